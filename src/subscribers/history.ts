/**
 * The delivery history of a subscriber as the API shows it (docs/CONTRACT.md §3): its delivery
 * attempts and its dead letters.
 */
import type { Static } from "typebox";
import type { Executor } from "../db/client.js";
import { recentDeadLetters } from "../db/dead-letters.js";
import { recentAttempts } from "../db/delivery-attempts.js";
import { getSubscriberRow } from "../db/subscribers.js";
import { errors } from "../errors.js";
import type { DeadLetterList, DeliveryList } from "../schemas/subscriber.js";
import { decodeEntry } from "../stream/entries.js";

async function assertExists(db: Executor, name: string): Promise<void> {
  if (!(await getSubscriberRow(db, name))) throw new errors.NotFound(`no subscriber named ${name}`);
}

/** The newest `limit` delivery attempts, newest first; 404 when the subscriber is unknown. */
export async function listDeliveries(db: Executor, name: string, limit: number): Promise<Static<typeof DeliveryList>> {
  const [, rows] = await Promise.all([assertExists(db, name), recentAttempts(db, name, limit)]);
  return {
    deliveries: rows.map((r) => ({
      stream_message_id: r.streamMessageId,
      event_id: r.eventId,
      attempt: r.attempt,
      status_code: r.statusCode,
      error: r.error,
      duration_ms: r.durationMs,
      outcome: r.outcome,
      at: r.at.toISOString(),
    })),
  };
}

/**
 * The newest `limit` dead letters, newest first, with the stored envelope parsed back (an entry
 * of an older producer gets its default meta, as on delivery); 404 when the subscriber is unknown.
 */
export async function listDeadLetters(
  db: Executor,
  name: string,
  limit: number,
  unresolvedOnly: boolean,
): Promise<Static<typeof DeadLetterList>> {
  const [, rows] = await Promise.all([assertExists(db, name), recentDeadLetters(db, name, limit, unresolvedOnly)]);
  return {
    dead_letters: rows.map((r) => ({
      stream_message_id: r.streamMessageId,
      event_id: r.eventId,
      reason: r.reason,
      last_status_code: r.lastStatusCode,
      last_error: r.lastError,
      attempts: r.attempts,
      failed_at: r.failedAt.toISOString(),
      resolved_at: r.resolvedAt?.toISOString() ?? null,
      event: r.event === null ? null : (decodeEntry(r.streamMessageId, ["event", r.event])?.event ?? null),
    })),
  };
}
