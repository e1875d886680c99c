/**
 * `processed_events`, the Charter C dedup ledger: one row per (subscriber, stream message) that
 * was delivered or dead-lettered. `event_id` is an audit column only: a producer retry makes a
 * new id, while a Redis redelivery keeps the stream id (docs/CONTRACT.md §1).
 */
import { and, eq, sql } from "drizzle-orm";
import type { Db, Executor } from "./client.js";
import { deadLetters, processedEvents, streamOrder, subscriberStats, subscribers } from "./schema.js";

export type DeadLetterReason = (typeof deadLetters.$inferInsert)["reason"];

/**
 * The ids among `ids` that this subscriber already processed (one query per batch).
 * One fixed statement, prepared once per connection (a Drizzle `inArray` is a new statement for
 * every batch size). Its shape is chosen for the planner: one unique-key probe per id, whatever
 * the table statistics say. Written as `= any(…)` or as a join, the plan made while the table
 * was small (before autovacuum's first ANALYZE) scans all of the subscriber's rows on every call:
 * 9–350 ms at 40,000 rows instead of 0.3 ms. Stream ids hold no commas.
 */
export async function processedIds(db: Db, subscriber: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.$client<{ id: string }[]>`select hit.id
    from unnest(string_to_array(${ids.join(",")}, ',')) as t(id),
    lateral (select stream_message_id as id from processed_events
             where subscriber_name = ${subscriber} and stream_message_id = t.id limit 1) as hit`;
  return new Set(rows.map((r) => r.id));
}

/**
 * The newest stream id this subscriber processed in one partition, in numeric id order, without
 * the partition's `prefix` (`3:`; "" with one partition); null if none. An index-only scan of
 * processed_events_stream_order_idx (schema.ts), one index tuple whatever the ledger's size.
 */
export async function newestProcessedId(db: Db, subscriber: string, prefix = ""): Promise<string | null> {
  const [partition, ms, seq] = streamOrder();
  const rows = await db
    .select({ id: processedEvents.streamMessageId })
    .from(processedEvents)
    .where(and(eq(processedEvents.subscriberName, subscriber), sql`${partition} = ${prefix}`))
    .orderBy(sql`${ms} desc`, sql`${seq} desc`)
    .limit(1);
  return rows[0]?.id.slice(prefix.length) ?? null;
}

/**
 * Deletes up to `limit` ledger rows, of every subscriber, of the partition with id `prefix`
 * (`3:`, or ""), whose stream id is below `below` (`<ms>-<seq>`, numerically) and which were
 * written before `cutoff`; returns how many. Each subscriber's range is an index range scan of
 * processed_events_stream_order_idx, bounded per subscriber; rows are deleted by primary key.
 */
export async function deleteLedgerRowsBelow(
  db: Db,
  prefix: string,
  below: string,
  cutoff: Date,
  limit: number,
): Promise<number> {
  const [partition, ms, seq] = streamOrder();
  const [belowMs = "0", belowSeq = "0"] = below.split("-");
  return db.transaction(async (tx) => {
    // The planner cannot know that processed_at follows the stream id, so on a large ledger it
    // expects to read a subscriber's whole range and JIT-compiles the plan: 60 of a batch's 110 ms
    // at 10 M rows (bench/RESULTS.md), for a statement that touches 5,000 rows.
    await tx.execute(sql`set local jit = off`);
    // `= any(array(…))`, not `in (…)`: the planner may answer `in` with a hash join over a
    // sequential scan of the whole ledger; an array makes it one primary-key probe per row.
    const result = await tx.execute(sql`delete from ${processedEvents} where ${processedEvents.id} = any(array(
      select victim.id from ${subscribers} s cross join lateral (
        select id from ${processedEvents}
        where subscriber_name = s.name and ${partition} = ${prefix}
          and (${ms}, ${seq}) < (${belowMs}::numeric, ${belowSeq}::numeric)
          and processed_at < ${cutoff.toISOString()}::timestamptz
        limit ${limit}) victim
      limit ${limit}))`);
    return result.count;
  });
}

/** What a dead letter keeps of a failed entry. */
export interface DeadLetterDetail {
  reason: DeadLetterReason;
  statusCode: number | null;
  error: string | null;
  attempts: number;
  /** The envelope JSON as stored; null when the entry was trimmed before delivery. */
  event: string | null;
}

/** A finished entry: delivered, or dead-lettered with the details the dead letter keeps. */
export interface Outcome {
  id: string;
  eventId: string | null;
  deadLetter?: DeadLetterDetail;
}

/**
 * Records finished entries: dedup rows (ON CONFLICT DO NOTHING: a row already there keeps its
 * outcome) and dead letters, in one transaction. Throws a foreign-key violation when the
 * subscriber was deleted meanwhile (`isMissingSubscriber`).
 */
export async function recordOutcomes(db: Db, subscriber: string, batch: Outcome[]): Promise<void> {
  if (batch.every((o) => o.deadLetter === undefined)) {
    // The hot path (every successful delivery): one fixed statement over a JSON parameter,
    // prepared once per connection, instead of a query built and parsed anew for each batch size.
    const json = JSON.stringify(batch.map((o) => ({ id: o.id, event_id: o.eventId })));
    // The counter upsert counts what the insert returned, so a duplicate (ON CONFLICT) counts nothing.
    await db.$client`with ins as (
        insert into processed_events (subscriber_name, stream_message_id, event_id, outcome)
        select ${subscriber}, id, event_id, 'delivered'
        from json_to_recordset(${json}::json) as t(id varchar, event_id varchar)
        on conflict do nothing
        returning processed_at)
      insert into subscriber_stats as s (subscriber_name, slot, delivered, dead_lettered, last_delivery_at)
      select ${subscriber}, pg_backend_pid() % ${STATS_SLOTS}, count(*), 0, max(processed_at) from ins
      having count(*) > 0
      on conflict (subscriber_name, slot) do update
        set delivered = s.delivered + excluded.delivered,
            last_delivery_at = greatest(s.last_delivery_at, excluded.last_delivery_at)`;
    return;
  }
  const rows = batch.map((o) => ({
    subscriberName: subscriber,
    streamMessageId: o.id,
    eventId: o.eventId,
    outcome: o.deadLetter ? ("dead_lettered" as const) : ("delivered" as const),
  }));
  const letters = batch.flatMap(({ id, eventId, deadLetter: d }) =>
    d
      ? [
          {
            subscriberName: subscriber,
            streamMessageId: id,
            eventId,
            reason: d.reason,
            lastStatusCode: d.statusCode,
            lastError: d.error,
            attempts: d.attempts,
            event: d.event,
          },
        ]
      : [],
  );
  await db.transaction(async (tx) => {
    const fresh = await tx
      .insert(processedEvents)
      .values(rows)
      .onConflictDoNothing()
      .returning({ outcome: processedEvents.outcome });
    await tx.insert(deadLetters).values(letters).onConflictDoNothing();
    const delivered = fresh.filter((r) => r.outcome === "delivered").length;
    await countOutcomes(tx, subscriber, delivered, fresh.length - delivered);
  });
}

/** Counter rows per subscriber (subscriberStats in schema.ts). */
const STATS_SLOTS = 8;

/**
 * Adds to a subscriber's counters, in the caller's transaction, after its ledger writes (a
 * transaction takes the counter row's lock last, so two never wait on each other in turn).
 * A delivery also moves last_delivery_at to now.
 */
export async function countOutcomes(
  tx: Executor,
  subscriber: string,
  delivered: number,
  deadLettered: number,
): Promise<void> {
  if (delivered === 0 && deadLettered === 0) return;
  await tx
    .insert(subscriberStats)
    .values({
      subscriberName: subscriber,
      slot: sql`pg_backend_pid() % ${STATS_SLOTS}`,
      delivered,
      deadLettered,
      lastDeliveryAt: delivered > 0 ? sql`now()` : null,
    })
    .onConflictDoUpdate({
      target: [subscriberStats.subscriberName, subscriberStats.slot],
      set: {
        delivered: sql`${subscriberStats.delivered} + excluded.delivered`,
        deadLettered: sql`${subscriberStats.deadLettered} + excluded.dead_lettered`,
        lastDeliveryAt: sql`greatest(${subscriberStats.lastDeliveryAt}, excluded.last_delivery_at)`,
      },
    });
}

/** Dedup-ledger counters of one subscriber. */
export interface OutcomeStats {
  delivered: number;
  deadLettered: number;
  lastDeliveryAt: Date | null;
}

/**
 * Counters for every subscriber (or the one named), from one grouped query over subscriber_stats:
 * a few rows per subscriber, whatever the ledger's size.
 */
export async function outcomeStats(db: Executor, name?: string): Promise<Map<string, OutcomeStats>> {
  const rows = await db
    .select({
      name: subscriberStats.subscriberName,
      delivered: sql<string>`sum(${subscriberStats.delivered})`,
      deadLettered: sql<string>`sum(${subscriberStats.deadLettered})`,
      lastDeliveryAt: sql<string | null>`max(${subscriberStats.lastDeliveryAt})`,
    })
    .from(subscriberStats)
    .where(name === undefined ? undefined : eq(subscriberStats.subscriberName, name))
    .groupBy(subscriberStats.subscriberName);
  return new Map(
    rows.map((r) => [
      r.name,
      {
        delivered: Number(r.delivered),
        deadLettered: Number(r.deadLettered),
        lastDeliveryAt: r.lastDeliveryAt === null ? null : new Date(r.lastDeliveryAt),
      },
    ]),
  );
}
