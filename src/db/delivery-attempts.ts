/**
 * `delivery_attempts`, the delivery log: one row per webhook attempt. An audit trail, not a
 * source of truth: it has no foreign key (schema.ts) and is pruned by age.
 */
import { lt } from "drizzle-orm";
import type postgres from "postgres";
import type { Db, Executor } from "./client.js";
import { deliveryAttempts } from "./schema.js";

export type AttemptRow = typeof deliveryAttempts.$inferInsert;

/**
 * Inserts a batch of attempts. One fixed statement over a JSON parameter (prepared once per
 * connection) rather than a query built for every batch size: this runs for every attempt
 * (bench/RESULTS.md).
 */
export async function insertAttempts(db: Db, rows: AttemptRow[]): Promise<void> {
  await db.$client`insert into delivery_attempts
      (subscriber_name, stream_message_id, event_id, event_type, attempt, status_code, error, duration_ms, outcome, at)
    select * from json_to_recordset(${JSON.stringify(rows)}::json) as t(
      "subscriberName" varchar, "streamMessageId" varchar, "eventId" varchar, "eventType" text, attempt int,
      "statusCode" int, error text, "durationMs" int, outcome text, at timestamptz)`;
}

/** Deletes attempts older than `cutoff` (the BRIN index on `at` keeps this cheap). */
export async function pruneAttempts(db: Executor, cutoff: Date): Promise<void> {
  await db.delete(deliveryAttempts).where(lt(deliveryAttempts.at, cutoff));
}

export type AttemptOutcome = AttemptRow["outcome"];

export interface AttemptQuery {
  limit: number;
  /** The id of the last row of the previous page: older rows only. */
  before?: number;
  outcome?: AttemptOutcome;
  eventType?: string;
}

/**
 * Attempts a filtered page looks at, at most: no index matches outcome or event type (building one
 * on a large log would block its writes for the build), so a filter is a scan of the subscriber's
 * attempts in time order, and a rare outcome would otherwise read the whole retained log.
 */
export const ATTEMPT_SCAN_LIMIT = 10_000;

/**
 * A page of a subscriber's attempts, newest first (the `delivery_attempts_subscriber_at_idx` scan),
 * and the id to continue from: the page's last row when more may match, or, when a filter found
 * fewer than `limit` within ATTEMPT_SCAN_LIMIT attempts, the last attempt it looked at.
 */
export async function attemptPage(db: Db, name: string, q: AttemptQuery) {
  const filtered = q.outcome !== undefined || q.eventType !== undefined;
  const rows = await attemptPageQuery(db.$client, name, q);
  const hits = rows.filter((r) => r.id !== null);
  const page = hits.slice(0, q.limit);
  const edge = rows[0]!;
  let next: string | null = null;
  if (hits.length > q.limit) next = page[page.length - 1]!.id;
  else if (filtered && edge.scanned === ATTEMPT_SCAN_LIMIT) next = edge.oldest;
  return { rows: page, next };
}

/** The statement of attemptPage; test/attempt-log-plans.test.ts reads its plans. */
export function attemptPageQuery(sql: postgres.Sql, name: string, q: AttemptQuery) {
  // `at <=` lets the index bound the scan; the row comparison breaks ties between equal times.
  const cursor =
    q.before === undefined
      ? sql``
      : sql`and at <= (select at from delivery_attempts where id = ${q.before})
            and (at, id) < (select at, id from delivery_attempts where id = ${q.before})`;
  const filtered = q.outcome !== undefined || q.eventType !== undefined;
  return sql<(AttemptRowOut & { scanned: number; oldest: string | null })[]>`
    with scanned as (
      select * from delivery_attempts where subscriber_name = ${name} ${cursor}
      order by at desc, id desc limit ${filtered ? ATTEMPT_SCAN_LIMIT : q.limit + 1}
    ), edge as (
      select count(*)::int as scanned, (select id from scanned order by at, id limit 1) as oldest from scanned
    )
    select edge.scanned, edge.oldest, hit.id, hit.stream_message_id, hit.event_id, hit.event_type, hit.attempt,
      hit.status_code, hit.error, hit.duration_ms, hit.outcome, hit.at_ms
    from edge left join lateral (
      select *, (extract(epoch from at) * 1000)::float8 as at_ms from scanned
      where (${q.outcome ?? null}::text is null or outcome = ${q.outcome ?? null})
        and (${q.eventType ?? null}::text is null or event_type = ${q.eventType ?? null})
      order by at desc, id desc limit ${q.limit + 1}
    ) hit on true`;
}

/** A row of `delivery_attempts` as the page query returns it: bigint ids as strings, `at` in epoch ms. */
export interface AttemptRowOut {
  id: string;
  stream_message_id: string;
  event_id: string | null;
  event_type: string | null;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  outcome: AttemptOutcome;
  at_ms: number;
}
