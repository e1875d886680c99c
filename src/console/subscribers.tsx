import { useState } from "preact/hooks";
import { api } from "./api.js";
import { Sparkline, successRate } from "./charts.js";
import { href } from "./route.js";
import { NewSubscriber } from "./new-subscriber.js";
import type { ActivityMinute, Subscriber, SubscribersActivity } from "./types.js";
import { count, ErrorNote, Section, Time } from "./ui.js";
import { useLoad } from "./use-load.js";

const REFRESH_MS = 5_000;

interface Row {
  subscriber: Subscriber;
  minutes: ActivityMinute[];
}

type Key = "name" | "kind" | "enabled" | "lag" | "pending" | "delivered" | "dead_lettered" | "last_delivery_at";
const COLUMNS: { key: Key; label: string; value: (s: Subscriber) => string | number | boolean | null }[] = [
  { key: "name", label: "Name", value: (s) => s.name },
  { key: "kind", label: "Kind", value: (s) => s.kind },
  { key: "enabled", label: "Enabled", value: (s) => s.enabled },
  { key: "lag", label: "Lag", value: (s) => s.stats.lag },
  { key: "pending", label: "Pending", value: (s) => s.stats.pending },
  { key: "delivered", label: "Delivered", value: (s) => s.stats.delivered },
  { key: "dead_lettered", label: "Dead-lettered", value: (s) => s.stats.dead_lettered },
  { key: "last_delivery_at", label: "Last delivery", value: (s) => s.stats.last_delivery_at },
];

/** Both calls at once; the sparklines are optional (a gateway without the activity route still lists). */
async function loadRows(): Promise<{ rows: Row[]; activityError?: Error }> {
  const [list, activity] = await Promise.all([
    api<{ subscribers: Subscriber[] }>("GET", "/v1/subscribers"),
    api<SubscribersActivity>("GET", "/v1/activity/subscribers?minutes=60").catch((e: Error) => e),
  ]);
  const byName = new Map(activity instanceof Error ? [] : activity.subscribers.map((a) => [a.name, a.minutes]));
  return {
    rows: list.subscribers.map((subscriber) => ({ subscriber, minutes: byName.get(subscriber.name) ?? [] })),
    activityError: activity instanceof Error ? activity : undefined,
  };
}

export function SubscribersPage() {
  const { data, error, reload } = useLoad(loadRows, "subscribers", REFRESH_MS);
  const [sort, setSort] = useState<{ key: Key; descending: boolean }>({ key: "name", descending: false });
  const column = COLUMNS.find((c) => c.key === sort.key)!;
  const rows = [...(data?.rows ?? [])].sort((a, b) => {
    const x = column.value(a.subscriber);
    const y = column.value(b.subscriber);
    const order = x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : 1;
    return sort.descending ? -order : order;
  });
  const toggle = (key: Key) => setSort((s) => ({ key, descending: s.key === key ? !s.descending : false }));
  return (
    <>
      <h1>Subscribers</h1>
      <p class="hint">Refreshes every {REFRESH_MS / 1000} s.</p>
      <ErrorNote error={error} />
      <ErrorNote error={data?.activityError} />
      <table class="grid">
        <caption>Every consumer of the stream, webhook and internal; activity of the last hour</caption>
        <thead>
          <tr>
            {COLUMNS.map((c) => (
              <th
                key={c.key}
                scope="col"
                aria-sort={sort.key === c.key ? (sort.descending ? "descending" : "ascending") : undefined}
              >
                <button type="button" class="sort" onClick={() => toggle(c.key)}>
                  {c.label}
                </button>
              </th>
            ))}
            <th scope="col">Success rate</th>
            <th scope="col">Latency p50</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ subscriber: s, minutes }) => (
            <tr key={s.name}>
              <td>
                <a href={href.subscriber(s.name)}>{s.name}</a>
              </td>
              <td>{s.kind}</td>
              <td>{s.enabled ? "yes" : "no"}</td>
              <td class="num">{count(s.stats.lag)}</td>
              <td class="num">{count(s.stats.pending)}</td>
              <td class="num">{count(s.stats.delivered)}</td>
              <td class="num">{count(s.stats.dead_lettered)}</td>
              <td>
                <Time at={s.stats.last_delivery_at} />
              </td>
              <td>
                <Sparkline
                  values={minutes.map((m) => {
                    const r = successRate(m);
                    return r === null ? null : r * 100;
                  })}
                  label={`${s.name}: success rate per minute, last hour`}
                />
              </td>
              <td>
                <Sparkline values={minutes.map((m) => m.p50_ms)} label={`${s.name}: median latency per minute`} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {data !== undefined && rows.length === 0 && <p>No subscribers yet.</p>}
      <Section title="New webhook subscriber">
        <NewSubscriber onCreated={reload} />
      </Section>
    </>
  );
}
