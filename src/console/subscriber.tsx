import { useState } from "preact/hooks";
import { api, enc } from "./api.js";
import { Attempts } from "./attempts.js";
import { ActivityChart } from "./charts.js";
import { DeadLetters } from "./dead-letters.js";
import { splitList } from "./new-subscriber.js";
import { Replays } from "./replays.js";
import { href } from "./route.js";
import { SecretOnce } from "./secret.js";
import type { Subscriber, SubscriberActivity } from "./types.js";
import { confirmed, count, ErrorNote, Section, Time } from "./ui.js";
import { useLoad } from "./use-load.js";

export function SubscriberPage({ name }: { name: string }) {
  const path = `/v1/subscribers/${enc(name)}`;
  const sub = useLoad(() => api<Subscriber>("GET", path), path, 5_000);
  const activity = useLoad(() => api<SubscriberActivity>("GET", `${path}/activity?minutes=60`), path, 15_000);
  const s = sub.data;
  return (
    <>
      <p>
        <a href={href.subscribers}>← All subscribers</a>
      </p>
      <h1>Subscriber {name}</h1>
      <ErrorNote error={sub.error} />
      {s !== undefined && (
        <>
          <dl class="stats">
            <dt>Kind</dt>
            <dd>{s.kind}</dd>
            <dt>Enabled</dt>
            <dd>{s.enabled ? "yes" : "no"}</dd>
            <dt>Lag</dt>
            <dd>{count(s.stats.lag)}</dd>
            <dt>Pending</dt>
            <dd>{count(s.stats.pending)}</dd>
            <dt>Delivered</dt>
            <dd>{count(s.stats.delivered)}</dd>
            <dt>Dead-lettered</dt>
            <dd>{count(s.stats.dead_lettered)}</dd>
            <dt>Last delivery</dt>
            <dd>
              <Time at={s.stats.last_delivery_at} />
            </dd>
          </dl>
          <Actions subscriber={s} path={path} onChange={sub.reload} />
          <Section title="Configuration">
            <Config subscriber={s} path={path} onSaved={sub.reload} />
          </Section>
        </>
      )}
      <Section title="Attempts per minute, last hour">
        <ErrorNote error={activity.error} />
        {activity.data !== undefined && <ActivityChart minutes={activity.data.minutes} />}
      </Section>
      <Section title="Delivery attempts">
        <Attempts path={path} />
      </Section>
      <Section title="Dead letters">
        <DeadLetters path={path} onChange={sub.reload} />
      </Section>
      {s?.kind === "webhook" && (
        <Section title="Replays">
          <Replays path={path} />
        </Section>
      )}
    </>
  );
}

function Actions({ subscriber: s, path, onChange }: { subscriber: Subscriber; path: string; onChange: () => void }) {
  const [error, setError] = useState<Error>();
  const [secret, setSecret] = useState<string>();
  const run = (action: () => Promise<unknown>) =>
    action().then(
      () => (setError(undefined), onChange()),
      (e: Error) => setError(e),
    );
  const toggle = () => {
    if (s.enabled && !confirmed(`Disable ${s.name}? Its deliveries stop until it is enabled again.`)) return;
    run(() => api("PATCH", path, { enabled: !s.enabled }));
  };
  const rotate = () => {
    if (!confirmed(`Rotate the signing secret of ${s.name}? The old one keeps signing for an overlap.`)) return;
    run(async () => setSecret((await api<{ secret: string }>("POST", `${path}/rotate-secret`, {})).secret));
  };
  const remove = () => {
    if (!confirmed(`Delete ${s.name}? Its consumer group, dead letters and log go with it.`)) return;
    api("DELETE", path).then(() => (location.hash = href.subscribers), setError);
  };
  return (
    <div class="actions">
      <button type="button" onClick={toggle}>
        {s.enabled ? "Disable" : "Enable"}
      </button>
      {s.kind === "webhook" && (
        <button type="button" onClick={rotate}>
          Rotate secret
        </button>
      )}
      <button type="button" class="danger" onClick={remove}>
        Delete subscriber
      </button>
      <ErrorNote error={error} />
      {secret !== undefined && <SecretOnce secret={secret} />}
    </div>
  );
}

function Config({ subscriber: s, path, onSaved }: { subscriber: Subscriber; path: string; onSaved: () => void }) {
  const [form, setForm] = useState({
    url: s.url ?? "",
    event_types: s.event_types.join(", "),
    description: s.description ?? "",
    max_attempts: String(s.max_attempts),
    timeout_ms: String(s.timeout_ms),
    max_in_flight: String(s.max_in_flight),
    ordering: s.ordering,
  });
  const [error, setError] = useState<Error>();
  const [saved, setSaved] = useState("");
  const field = (key: keyof typeof form) => ({
    id: `config-${key}`,
    value: form[key],
    onInput: (e: { currentTarget: { value: string } }) => setForm({ ...form, [key]: e.currentTarget.value }),
  });
  const save = async (e: Event) => {
    e.preventDefault();
    const patch = {
      ...(s.kind === "webhook" ? { url: form.url.trim() } : {}),
      event_types: splitList(form.event_types),
      description: form.description === "" ? null : form.description,
      max_attempts: Number(form.max_attempts),
      timeout_ms: Number(form.timeout_ms),
      max_in_flight: Number(form.max_in_flight),
      ordering: form.ordering,
    };
    try {
      await api("PATCH", path, patch);
      setError(undefined);
      setSaved("Saved.");
      onSaved();
    } catch (err) {
      setSaved("");
      setError(err as Error);
    }
  };
  return (
    <form class="fields" onSubmit={save}>
      {s.kind === "webhook" && (
        <>
          <label for="config-url">URL</label>
          <input type="url" required {...field("url")} />
        </>
      )}
      <label for="config-event_types">Event types</label>
      <input required {...field("event_types")} />
      <label for="config-description">Description</label>
      <input {...field("description")} />
      <label for="config-max_attempts">Max attempts</label>
      <input type="number" min="1" max="100" required {...field("max_attempts")} />
      <label for="config-timeout_ms">Timeout (ms)</label>
      <input type="number" min="1" required {...field("timeout_ms")} />
      <label for="config-max_in_flight">Max in flight</label>
      <input type="number" min="1" max="1000" required {...field("max_in_flight")} />
      <label for="config-ordering">Ordering</label>
      <select {...field("ordering")}>
        <option value="none">none</option>
        <option value="key">key</option>
      </select>
      <button type="submit">Save configuration</button>
      <span role="status">{saved}</span>
      <ErrorNote error={error} />
    </form>
  );
}
