/**
 * Which subscribers delivered or dead-lettered one stream entry: its rows of processed_events.
 * The ledger has no index on stream_message_id alone (it has billions of rows, and every index
 * costs each delivery a write), so the rows are found by one probe of the unique
 * (subscriber_name, stream_message_id) index per subscriber: as many probes as subscribers,
 * whatever the ledger's size.
 */
import type { Db } from "./client.js";

export interface EntryDeliveryRow {
  subscriber: string;
  outcome: "delivered" | "dead_lettered";
  processedAt: Date;
}

/**
 * The ledger rows of the entry `streamMessageId` (as stored: qualified by its partition), by
 * subscriber name. A lateral probe per subscriber, the shape processedIds (processed-events.ts)
 * chose so the planner never scans a subscriber's rows.
 */
export async function entryDeliveries(db: Db, streamMessageId: string): Promise<EntryDeliveryRow[]> {
  const rows = await db.$client<{ subscriber: string; outcome: EntryDeliveryRow["outcome"]; processed_at: Date }[]>`
    select s.name as subscriber, hit.outcome, hit.processed_at
    from subscribers s,
    lateral (select outcome, processed_at from processed_events
             where subscriber_name = s.name and stream_message_id = ${streamMessageId} limit 1) as hit
    order by s.name`;
  return rows.map((r) => ({ subscriber: r.subscriber, outcome: r.outcome, processedAt: new Date(r.processed_at) }));
}
