import { useState } from "preact/hooks";
import { api, enc, query } from "./api.js";
import type { BulkRedeliverResult, DeadLetterPage, Redelivered } from "./types.js";
import { confirmed, ErrorNote, Json, Time } from "./ui.js";
import { useLoad } from "./use-load.js";

/** The subscriber's unresolved dead letters with redeliver, one at a time or the selected ones in bulk. */
export function DeadLetters({ path, onChange }: { path: string; onChange: () => void }) {
  const url = `${path}/dead-letters${query({ unresolved: "true", limit: 100 })}`;
  const list = useLoad(() => api<DeadLetterPage>("GET", url), url, 5_000);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [results, setResults] = useState<string[]>([]);
  const [error, setError] = useState<Error>();
  const done = (lines: string[]) => {
    setResults(lines);
    setError(undefined);
    setSelected(new Set());
    list.reload();
    onChange();
  };
  // `code` is why no attempt was made (NOT_FOUND, CONFLICT: a bulk item the gateway skipped).
  const describe = (id: string, outcome?: string, status?: number | null, err?: string | null, code?: string) =>
    `${id}: ${outcome ?? (code ? `not sent (${code})` : "failed")}` +
    `${status ? ` (HTTP ${status})` : ""}${err ? `: ${err}` : ""}`;
  const redeliver = (id: string) =>
    api<Redelivered>("POST", `${path}/dead-letters/${enc(id)}/redeliver`, {}).then(
      (r) => done([describe(id, r.outcome, r.status_code, r.error)]),
      setError,
    );
  const rows = list.data?.dead_letters ?? [];
  // Only what the list still shows: a selected letter resolved meanwhile (elsewhere, then dropped
  // by a refresh) would otherwise be sent to the receiver again.
  const chosen = rows.map((d) => d.stream_message_id).filter((id) => selected.has(id));
  const bulk = () => {
    if (!confirmed(`Redeliver ${chosen.length} dead letter(s) now?`)) return;
    api<BulkRedeliverResult>("POST", `${path}/dead-letters/redeliver`, { stream_message_ids: chosen }).then(
      (r) => done(r.results.map((x) => describe(x.stream_message_id, x.outcome, x.status_code, x.error, x.code))),
      setError,
    );
  };
  const allChosen = rows.length > 0 && chosen.length === rows.length;
  const toggleAll = () => setSelected(allChosen ? new Set() : new Set(rows.map((d) => d.stream_message_id)));
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (!next.delete(id)) next.add(id);
    setSelected(next);
  };
  return (
    <>
      <ErrorNote error={list.error ?? error} />
      <div role="status" class="results">
        {results.map((line) => (
          <p key={line}>{line}</p>
        ))}
      </div>
      {rows.length === 0 && list.data !== undefined ? (
        <p>No unresolved dead letters.</p>
      ) : (
        <>
          <button type="button" disabled={chosen.length === 0} onClick={bulk}>
            Redeliver selected ({chosen.length})
          </button>
          <table class="grid" aria-label="Dead letters">
            <thead>
              <tr>
                <th scope="col">
                  <input
                    type="checkbox"
                    aria-label="Select all dead letters"
                    checked={allChosen}
                    onChange={toggleAll}
                  />
                </th>
                <th scope="col">Stream id</th>
                <th scope="col">Reason</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last error</th>
                <th scope="col">Failed at</th>
                <th scope="col">Event</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <tr key={d.stream_message_id}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select ${d.stream_message_id}`}
                      checked={selected.has(d.stream_message_id)}
                      onChange={() => toggle(d.stream_message_id)}
                    />
                  </td>
                  <td>{d.stream_message_id}</td>
                  <td>{d.reason}</td>
                  <td class="num">{d.attempts}</td>
                  <td>
                    {d.last_status_code ? `HTTP ${d.last_status_code} ` : ""}
                    {d.last_error ?? ""}
                  </td>
                  <td>
                    <Time at={d.failed_at} />
                  </td>
                  <td>
                    <details>
                      <summary>Envelope</summary>
                      <Json value={d.event} label={`Envelope of ${d.stream_message_id}`} />
                    </details>
                  </td>
                  <td>
                    <button
                      type="button"
                      class="small"
                      aria-label={`Redeliver ${d.stream_message_id}`}
                      onClick={() => redeliver(d.stream_message_id)}
                    >
                      Redeliver
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}
