/**
 * Per-minute delivery aggregates from the delivery log (`delivery_attempts`): attempts by outcome
 * and latency percentiles, for one subscriber or for every subscriber at once. Both read only the
 * window's rows through `delivery_attempts_subscriber_at_idx` (subscriber_name, at desc).
 */
import type postgres from "postgres";
import type { Db } from "./client.js";

/** One minute of one subscriber's attempts, as Postgres groups them (minutes without attempts are absent). */
export interface MinuteRow {
  /** Its start, epoch ms. */
  minute: number;
  delivered: number;
  retry: number;
  dead_lettered: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

// percentile_disc: a latency some attempt actually took, in whole ms like duration_ms.
const AGGREGATES = `(extract(epoch from date_trunc('minute', a.at)) * 1000)::float8 as minute,
  count(*) filter (where a.outcome = 'delivered')::int as delivered,
  count(*) filter (where a.outcome = 'retry')::int as retry,
  count(*) filter (where a.outcome = 'dead_lettered')::int as dead_lettered,
  percentile_disc(0.5) within group (order by a.duration_ms) as p50_ms,
  percentile_disc(0.99) within group (order by a.duration_ms) as p99_ms`;

// ISO text: the Drizzle client passes timestamps to postgres.js as strings, not Date objects.
const inWindow = (sql: postgres.Sql, from: Date, to: Date) =>
  sql`a.at >= ${from.toISOString()}::timestamptz and a.at < ${to.toISOString()}::timestamptz`;

/** The minutes of [from, to) in which `name` made attempts, oldest first. */
export async function subscriberMinutes(db: Db, name: string, from: Date, to: Date): Promise<MinuteRow[]> {
  return subscriberMinutesQuery(db.$client, name, from, to);
}

/** The statement of subscriberMinutes; test/attempt-log-plans.test.ts reads its plans. */
export function subscriberMinutesQuery(sql: postgres.Sql, name: string, from: Date, to: Date) {
  return sql<MinuteRow[]>`
    select ${sql.unsafe(AGGREGATES)} from delivery_attempts a
    where a.subscriber_name = ${name} and ${inWindow(sql, from, to)}
    group by 1 order by 1`;
}

export type SubscriberMinuteRow = Omit<MinuteRow, "minute"> & { name: string; minute: number | null };

/**
 * Every subscriber's minutes of [from, to), in one statement: a lateral aggregate per subscriber
 * row, so each one is an index range scan of its own window. A subscriber without attempts
 * comes back once with `minute` null.
 */
export async function allSubscriberMinutes(db: Db, from: Date, to: Date): Promise<SubscriberMinuteRow[]> {
  return allSubscriberMinutesQuery(db.$client, from, to);
}

/** The statement of allSubscriberMinutes. */
export function allSubscriberMinutesQuery(sql: postgres.Sql, from: Date, to: Date) {
  return sql<SubscriberMinuteRow[]>`
    select s.name, m.* from subscribers s left join lateral (
      select ${sql.unsafe(AGGREGATES)} from delivery_attempts a
      where a.subscriber_name = s.name and ${inWindow(sql, from, to)}
      group by 1
    ) m on true
    order by s.name, m.minute`;
}
