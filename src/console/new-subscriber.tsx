import { useState } from "preact/hooks";
import { api } from "./api.js";
import { href } from "./route.js";
import { SecretOnce } from "./secret.js";
import { ErrorNote } from "./ui.js";

export const splitList = (s: string) =>
  s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter((x) => x !== "");

export function NewSubscriber({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [types, setTypes] = useState("*");
  const [error, setError] = useState<Error>();
  const [created, setCreated] = useState<{ name: string; secret: string }>();
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const body = { name: name.trim(), url: url.trim(), event_types: splitList(types) };
      const res = await api<{ name: string; secret: string }>("POST", "/v1/subscribers", body);
      setCreated({ name: res.name, secret: res.secret });
      setError(undefined);
      setName("");
      setUrl("");
      onCreated();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <form class="fields" onSubmit={submit}>
        <label for="new-name">Name</label>
        <input
          id="new-name"
          required
          pattern="[a-z0-9][a-z0-9_\-]{0,62}"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <label for="new-url">URL</label>
        <input id="new-url" type="url" required value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
        <label for="new-types">Event types (comma-separated patterns)</label>
        <input id="new-types" required value={types} onInput={(e) => setTypes(e.currentTarget.value)} />
        <button type="submit">Create subscriber</button>
      </form>
      <ErrorNote error={error} />
      {created !== undefined && (
        <div class="notice">
          <p>
            Created <a href={href.subscriber(created.name)}>{created.name}</a>.
          </p>
          <SecretOnce secret={created.secret} />
        </div>
      )}
    </>
  );
}
