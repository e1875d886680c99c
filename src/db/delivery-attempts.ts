/**
 * `delivery_attempts`, the delivery log: one row per webhook attempt. An audit trail, not a
 * source of truth: it has no foreign key (schema.ts) and is pruned by age.
 */
import { desc, eq, lt } from "drizzle-orm";
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
      (subscriber_name, stream_message_id, event_id, attempt, status_code, error, duration_ms, outcome, at)
    select * from json_to_recordset(${JSON.stringify(rows)}::json) as t(
      "subscriberName" varchar, "streamMessageId" varchar, "eventId" varchar, attempt int, "statusCode" int,
      error text, "durationMs" int, outcome text, at timestamptz)`;
}

/** Deletes attempts older than `cutoff` (the BRIN index on `at` keeps this cheap). */
export async function pruneAttempts(db: Executor, cutoff: Date): Promise<void> {
  await db.delete(deliveryAttempts).where(lt(deliveryAttempts.at, cutoff));
}

/** The newest delivery attempts of a subscriber. */
export async function recentAttempts(db: Executor, name: string, limit: number) {
  return db
    .select()
    .from(deliveryAttempts)
    .where(eq(deliveryAttempts.subscriberName, name))
    .orderBy(desc(deliveryAttempts.at), desc(deliveryAttempts.id))
    .limit(limit);
}
