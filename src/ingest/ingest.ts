/**
 * Ingest: turns validated request envelopes into stored envelopes and appends them.
 * Every check runs before anything is written, so a rejected request writes nothing.
 */
import { errors, withDetails, type ErrorDetail } from "../errors.js";
import type { EventEnvelope } from "../schemas/envelope.js";
import type { PublishResult, Publisher } from "../stream/publisher.js";
import { fingerprint, prepare, type IngestLimits } from "./prepare.js";

export type IngestOneResult = PublishResult & { replayed: boolean };

/** The 400 for a batch over the limit; checked before any item is validated (routes/events.ts). */
export function batchTooLarge(count: number, maxBatch: number): Error {
  return withDetails(new errors.BatchTooLarge(maxBatch), [{ path: "/events", message: `${count} events` }]);
}

/** Appends one envelope; a key accepted in the last 24 h replays its original result. */
export async function ingestOne(
  publisher: Publisher,
  event: EventEnvelope,
  idempotencyKey: string | undefined,
  limits: IngestLimits,
): Promise<IngestOneResult> {
  const item = prepare(event, limits, "", new Date());
  if (idempotencyKey !== undefined) {
    item.idempotencyKey = idempotencyKey;
    item.fingerprint ??= fingerprint(event);
  }
  const [result] = await publisher.publish([item]);
  if (result!.created) return { ...result!, replayed: false };
  if (result!.fingerprint !== item.fingerprint) {
    throw new errors.IdempotencyKeyReused(
      `idempotency key "${item.idempotencyKey}" was already used with a different body in the last 24 h`,
    );
  }
  return { ...result!, replayed: true };
}

/** Validates the whole batch first (nothing written on any error), then appends it atomically. */
export async function ingestBatch(
  publisher: Publisher,
  events: EventEnvelope[],
  limits: IngestLimits,
): Promise<IngestOneResult[]> {
  if (events.length > limits.maxBatch) throw batchTooLarge(events.length, limits.maxBatch);
  const seen = new Map<string, number>();
  const duplicates: ErrorDetail[] = [];
  events.forEach((e, i) => {
    if (e.id === undefined) return;
    const first = seen.get(e.id);
    if (first === undefined) seen.set(e.id, i);
    else duplicates.push({ path: `/events/${i}/id`, message: `id "${e.id}" is also at /events/${first}/id` });
  });
  if (duplicates.length > 0) {
    throw withDetails(new errors.DuplicateEventId("an id appears more than once in the batch"), duplicates);
  }
  const now = new Date();
  const items = events.map((e, i) => prepare(e, limits, `/events/${i}`, now));
  const results = await publisher.publish(items);
  return results.map((r) => ({ ...r, replayed: !r.created }));
}
