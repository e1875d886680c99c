import { useState } from "preact/hooks";
import { api, query } from "./api.js";
import { href } from "./route.js";
import type { Attempt, AttemptPage, EventDetail } from "./types.js";
import { ErrorNote, Json, Time } from "./ui.js";
import { useLoad } from "./use-load.js";

const PAGE = 50;

/** The subscriber's attempt log, newest first, filtered by outcome and event type; refreshes itself. */
export function Attempts({ path }: { path: string }) {
  const [outcome, setOutcome] = useState("");
  const [eventType, setEventType] = useState("");
  const [applied, setApplied] = useState({ outcome: "", eventType: "" });
  const [before, setBefore] = useState<string[]>([]);
  const [open, setOpen] = useState<Attempt>();
  const cursor = before[before.length - 1];
  const url =
    `${path}/deliveries` +
    query({ limit: PAGE, outcome: applied.outcome, event_type: applied.eventType, before: cursor });
  const log = useLoad(() => api<AttemptPage>("GET", url), url, cursor === undefined ? 5_000 : undefined);
  const filter = (e: Event) => {
    e.preventDefault();
    setBefore([]);
    setApplied({ outcome, eventType: eventType.trim() });
  };
  const rows = log.data?.deliveries ?? [];
  return (
    <>
      <form class="filters" onSubmit={filter}>
        <label for="attempt-outcome">Outcome</label>
        <select id="attempt-outcome" value={outcome} onChange={(e) => setOutcome(e.currentTarget.value)}>
          <option value="">any</option>
          <option value="delivered">delivered</option>
          <option value="retry">retry</option>
          <option value="dead_lettered">dead-lettered</option>
        </select>
        <label for="attempt-type">Event type</label>
        <input id="attempt-type" value={eventType} onInput={(e) => setEventType(e.currentTarget.value)} />
        <button type="submit">Filter attempts</button>
      </form>
      <ErrorNote error={log.error} />
      <table class="grid" aria-label="Delivery attempts">
        <thead>
          <tr>
            <th scope="col">At</th>
            <th scope="col">Stream id</th>
            <th scope="col">Event type</th>
            <th scope="col">Attempt</th>
            <th scope="col">Outcome</th>
            <th scope="col">Status</th>
            <th scope="col">Duration</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((a) => (
            <tr key={`${a.stream_message_id}/${a.attempt}/${a.at}`} class={`outcome-${a.outcome}`}>
              <td>
                <Time at={a.at} />
              </td>
              <td>{a.stream_message_id}</td>
              <td>{a.event_type ?? "—"}</td>
              <td class="num">{a.attempt}</td>
              <td>{a.outcome}</td>
              <td class="num">{a.status_code ?? "—"}</td>
              <td class="num">{a.duration_ms} ms</td>
              <td>
                <button
                  type="button"
                  class="small"
                  aria-label={`Open attempt ${a.attempt} of ${a.stream_message_id}`}
                  onClick={() => setOpen(a)}
                >
                  Open
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {log.data !== undefined && rows.length === 0 && (
        <p>No attempts{applied.outcome || applied.eventType ? " match" : ""}.</p>
      )}
      <div class="pager">
        {before.length > 0 && (
          <button type="button" onClick={() => setBefore(before.slice(0, -1))}>
            Newer attempts
          </button>
        )}
        {log.data?.next && (
          <button type="button" onClick={() => setBefore([...before, log.data!.next!])}>
            Older attempts
          </button>
        )}
      </div>
      {open !== undefined && <AttemptDetail attempt={open} onClose={() => setOpen(undefined)} />}
    </>
  );
}

function AttemptDetail({ attempt: a, onClose }: { attempt: Attempt; onClose: () => void }) {
  const path = `/v1/events/${encodeURIComponent(a.stream_message_id)}`;
  const event = useLoad(() => api<EventDetail>("GET", path), path);
  return (
    <section class="panel" aria-labelledby="attempt-detail">
      <h3 id="attempt-detail" tabIndex={-1} ref={(el) => el?.focus()}>
        Attempt {a.attempt} of {a.stream_message_id}
      </h3>
      <dl class="stats">
        <dt>Outcome</dt>
        <dd>{a.outcome}</dd>
        <dt>Status</dt>
        <dd>{a.status_code ?? "no answer"}</dd>
        <dt>Duration</dt>
        <dd>{a.duration_ms} ms</dd>
        <dt>Error</dt>
        <dd>{a.error ?? "—"}</dd>
        <dt>At</dt>
        <dd>
          <Time at={a.at} />
        </dd>
      </dl>
      <ErrorNote error={event.error} />
      {event.data !== undefined && <Json value={event.data.event} label="The event of this attempt" />}
      <p>
        <a href={href.event(a.stream_message_id)}>Open the event page</a>{" "}
        <button type="button" onClick={onClose}>
          Close attempt
        </button>
      </p>
    </section>
  );
}
