import { api, enc } from "./api.js";
import { href } from "./route.js";
import type { EventDetail } from "./types.js";
import { ErrorNote, Json, Section, Time } from "./ui.js";
import { useLoad } from "./use-load.js";

/** One entry of the stream: its envelope and the subscribers that delivered or dead-lettered it. */
export function EventPage({ id }: { id: string }) {
  const path = `/v1/events/${enc(id)}`;
  const entry = useLoad(() => api<EventDetail>("GET", path), path, 5_000);
  const e = entry.data;
  return (
    <>
      <p>
        <a href={href.events}>← All events</a>
      </p>
      <h1>Event {id}</h1>
      <ErrorNote error={entry.error} />
      {e !== undefined && (
        <>
          <Section title="Deliveries">
            {e.deliveries.length === 0 ? (
              <p>No subscriber has delivered or dead-lettered it yet.</p>
            ) : (
              <table class="grid" aria-label="Deliveries of this event">
                <thead>
                  <tr>
                    <th scope="col">Subscriber</th>
                    <th scope="col">Outcome</th>
                    <th scope="col">At</th>
                  </tr>
                </thead>
                <tbody>
                  {e.deliveries.map((d) => (
                    <tr key={d.subscriber}>
                      <td>
                        <a href={href.subscriber(d.subscriber)}>{d.subscriber}</a>
                      </td>
                      <td>{d.outcome}</td>
                      <td>
                        <Time at={d.processed_at} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Section>
          <Section title="Envelope">
            <Json value={e.event} label="Envelope" />
          </Section>
        </>
      )}
    </>
  );
}
