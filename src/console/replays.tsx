import { useState } from "preact/hooks";
import { api, enc } from "./api.js";
import type { Replay } from "./types.js";
import { confirmed, ErrorNote, Time } from "./ui.js";
import { useLoad } from "./use-load.js";

/** The subscriber's replays with their progress, a form to start one, and cancel. */
export function Replays({ path }: { path: string }) {
  const list = useLoad(() => api<{ replays: Replay[] }>("GET", `${path}/replays?limit=20`), path, 2_000);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [error, setError] = useState<Error>();
  const start = (e: Event) => {
    e.preventDefault();
    const body = { from: from.trim(), ...(to.trim() === "" ? {} : { to: to.trim() }) };
    api("POST", `${path}/replays`, body).then(() => (setError(undefined), list.reload()), setError);
  };
  const cancel = (r: Replay) => {
    if (!confirmed(`Cancel replay ${r.id}? Entries not sent yet will not be.`)) return;
    api("DELETE", `${path}/replays/${enc(r.id)}`).then(list.reload, setError);
  };
  return (
    <>
      <form class="filters" onSubmit={start}>
        <label for="replay-from">From (stream id or RFC 3339 time)</label>
        <input id="replay-from" required value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        <label for="replay-to">To (optional)</label>
        <input id="replay-to" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        <button type="submit">Start replay</button>
      </form>
      <ErrorNote error={list.error ?? error} />
      {(list.data?.replays ?? []).length === 0 ? (
        <p>No replays.</p>
      ) : (
        <table class="grid" aria-label="Replays">
          <thead>
            <tr>
              <th scope="col">Created</th>
              <th scope="col">Range</th>
              <th scope="col">State</th>
              <th scope="col">Progress</th>
              <th scope="col">Delivered / failed</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {list.data!.replays.map((r) => (
              <tr key={r.id}>
                <td>
                  <Time at={r.created_at} />
                </td>
                <td>
                  {r.from} → {r.to ?? "newest"}
                </td>
                <td>
                  {r.state}
                  {r.error ? `: ${r.error}` : ""}
                </td>
                <td>
                  <progress
                    max={r.total ?? undefined}
                    value={r.total === null ? undefined : r.sent}
                    aria-label={`Replay ${r.id} progress`}
                  />{" "}
                  {r.sent} / {r.total ?? "?"}
                </td>
                <td>
                  {r.delivered} / {r.failed}
                </td>
                <td>
                  {(r.state === "pending" || r.state === "running") && (
                    <button type="button" class="small" aria-label={`Cancel replay ${r.id}`} onClick={() => cancel(r)}>
                      Cancel
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
