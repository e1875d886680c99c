/**
 * The delivery history of a subscriber as the API shows it (docs/CONTRACT.md §3): its delivery
 * attempts and its dead letters.
 */
import type { Static } from "typebox";
import type { Db, Executor } from "../db/client.js";
import { deadLetterPage } from "../db/dead-letters.js";
import { attemptPage, type AttemptOutcome } from "../db/delivery-attempts.js";
import { getSubscriberRow } from "../db/subscribers.js";
import { errors } from "../errors.js";
import type { DeadLetterPage } from "../schemas/pages.js";
import type { DeliveryList } from "../schemas/subscriber.js";
import { decodeEntry } from "../stream/entries.js";

async function assertExists(db: Executor, name: string): Promise<void> {
  if (!(await getSubscriberRow(db, name))) throw new errors.NotFound(`no subscriber named ${name}`);
}

/**
 * A page of delivery attempts, newest first, optionally of one outcome or event type, and the
 * cursor of the next page (db/delivery-attempts.ts attemptPage); 404 when the subscriber is unknown.
 */
export async function listDeliveries(
  db: Db,
  name: string,
  query: { limit: number; before?: string; outcome?: AttemptOutcome; eventType?: string },
): Promise<Static<typeof DeliveryList>> {
  const before = query.before === undefined ? undefined : Number(query.before);
  const [, page] = await Promise.all([assertExists(db, name), attemptPage(db, name, { ...query, before })]);
  return {
    deliveries: page.rows.map((r) => ({
      stream_message_id: r.stream_message_id,
      event_id: r.event_id,
      event_type: r.event_type,
      attempt: r.attempt,
      status_code: r.status_code,
      error: r.error,
      duration_ms: r.duration_ms,
      outcome: r.outcome,
      at: new Date(r.at_ms).toISOString(),
    })),
    next: page.next,
  };
}

/** Stored envelopes and errors one page of dead letters holds at most (always at least one row). */
export const DEAD_LETTER_PAGE_MAX_BYTES = 1024 * 1024;

/**
 * A page of dead letters, newest first, with the stored envelope parsed back (an entry of an
 * older producer gets its default meta, as on delivery), and the cursor of the next page; 404
 * when the subscriber is unknown.
 */
export async function listDeadLetters(
  db: Executor,
  name: string,
  query: { limit: number; unresolvedOnly: boolean; cursor?: string },
): Promise<DeadLetterPage> {
  const after = query.cursor === undefined ? undefined : Number(query.cursor);
  const [, page] = await Promise.all([
    assertExists(db, name),
    deadLetterPage(db, name, { ...query, after, maxBytes: DEAD_LETTER_PAGE_MAX_BYTES }),
  ]);
  const last = page.rows[page.rows.length - 1];
  return {
    dead_letters: page.rows.map((r) => ({
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
    next: page.more && last !== undefined ? String(last.id) : null,
  };
}
