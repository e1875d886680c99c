import { useEffect, useRef, useState } from "preact/hooks";
import { api, query } from "./api.js";
import { href } from "./route.js";
import { startTail } from "./tail.js";
import type { EventPage, StoredEvent } from "./types.js";
import { ErrorNote, Json } from "./ui.js";
import { useLoad } from "./use-load.js";

const PAGE = 25;
/** The live tail keeps this many events on the page. */
const TAIL_KEEP = 200;
const STREAM_ID = /^((0|[1-9][0-9]{0,3}):)?[0-9]{1,20}-[0-9]{1,20}$/;

export function EventsPage() {
  const [type, setType] = useState("");
  const [search, setSearch] = useState("");
  const [applied, setApplied] = useState({ type: "", eventId: "" });
  const [before, setBefore] = useState<string[]>([]);
  const cursor = before[before.length - 1];
  const filters = { type: applied.type, event_id: applied.eventId, before: cursor };
  const url = `/v1/events${query({ order: "newest", limit: PAGE, ...filters })}`;
  const page = useLoad(() => api<EventPage>("GET", url), url);
  const apply = (e: Event) => {
    e.preventDefault();
    const term = search.trim();
    // A stream id names one entry: open it; anything else is an envelope id.
    if (STREAM_ID.test(term)) {
      location.hash = href.event(term);
      return;
    }
    setBefore([]);
    setApplied({ type: type.trim(), eventId: term });
  };
  return (
    <>
      <h1>Events</h1>
      <form class="filters" onSubmit={apply}>
        <label for="events-type">Event type</label>
        <input id="events-type" value={type} onInput={(e) => setType(e.currentTarget.value)} />
        <label for="events-search">Event id or stream id</label>
        <input id="events-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        <button type="submit">Search events</button>
      </form>
      <LiveTail type={applied.type} />
      <h2>Newest first</h2>
      <ErrorNote error={page.error} />
      <EventList events={page.data?.events ?? []} label="Events, newest first" />
      {page.data !== undefined && page.data.events.length === 0 && (
        <p>No events{page.data.next ? " in this stretch of the stream (the filter scans a bounded number)" : ""}.</p>
      )}
      <div class="pager">
        {before.length > 0 && (
          <button type="button" onClick={() => setBefore(before.slice(0, -1))}>
            Newer events
          </button>
        )}
        {page.data?.next && (
          <button type="button" onClick={() => setBefore([...before, page.data!.next!])}>
            Older events
          </button>
        )}
      </div>
    </>
  );
}

function LiveTail({ type }: { type: string }) {
  const [on, setOn] = useState(false);
  const [state, setState] = useState("");
  const [events, setEvents] = useState<StoredEvent[]>([]);
  const seen = useRef(new Set<string>());
  useEffect(() => {
    if (!on) return;
    setState("connecting");
    const tail = startTail(
      type,
      (e) => {
        if (seen.current.has(e.stream_message_id)) return;
        seen.current.add(e.stream_message_id);
        setEvents((list) => [e, ...list].slice(0, TAIL_KEEP));
      },
      setState,
    );
    return () => {
      tail.stop();
      setState("");
    };
  }, [on, type]);
  return (
    <section aria-labelledby="tail-title" class="tail">
      <h2 id="tail-title">Live tail</h2>
      <button type="button" aria-pressed={on} onClick={() => setOn(!on)}>
        {on ? "Stop live tail" : "Start live tail"}
      </button>{" "}
      <span role="status">{state}</span>
      {events.length > 0 && <EventList events={events} label="Live events, newest first" />}
    </section>
  );
}

function EventList({ events, label }: { events: StoredEvent[]; label: string }) {
  return (
    <ul class="events" aria-label={label}>
      {events.map(({ stream_message_id: id, event }) => (
        <li key={id}>
          <details>
            <summary>
              <span class="mono">{id}</span> <strong>{event.type}</strong> <span>{event.source}</span>{" "}
              <span class="mono">{event.id ?? ""}</span>
            </summary>
            <Json value={event} label={`Envelope of ${id}`} />
            <a href={href.event(id)}>Deliveries of {id}</a>
          </details>
        </li>
      ))}
    </ul>
  );
}
