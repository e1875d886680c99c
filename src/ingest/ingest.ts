/**
 * Ingest: turns validated request envelopes into stored envelopes and appends them, for HTTP
 * (routes/events.ts) and the in-process publisher (ingest/in-process.ts) alike.
 * Every check runs before anything is written, so a rejected request writes nothing.
 */
import { errors, withDetails, type ErrorDetail } from "../errors.js";
import type { EventEnvelope } from "../schemas/envelope.js";
import type { PublishResult, Publisher } from "../stream/publisher.js";
import { fingerprint, prepare, type IngestLimits } from "./prepare.js";
import { checkTypes, type TypeRules } from "./type-rules.js";

/** What ingest appends with and the rules it holds events to. */
export interface IngestContext {
  publisher: Publisher;
  limits: IngestLimits;
  types: TypeRules;
}

/** The 400 for a batch over the limit; checked before any item is validated (routes/events.ts). */
export function batchTooLarge(count: number, maxBatch: number): Error {
  return withDetails(new errors.BatchTooLarge(maxBatch), [{ path: "/events", message: `${count} events` }]);
}

/**
 * Appends one envelope; a key accepted in the last 24 h from the same credential replays its
 * original result, or is 422 when it came with another body.
 */
export async function ingestOne(
  ctx: IngestContext,
  event: EventEnvelope,
  idempotencyKey: string | undefined,
  credential: string,
): Promise<PublishResult> {
  const item = prepare(event, ctx.limits, "", new Date());
  const loading = checkTypes(ctx.types, [event], false);
  if (loading !== undefined) await loading;
  if (idempotencyKey !== undefined) {
    item.idempotencyKey = idempotencyKey;
    item.keyKind = "key";
    // The retry must reach the partition that holds the key's record (ordering_key still wins).
    item.routingKey ??= idempotencyKey;
    item.fingerprint ??= fingerprint(event);
  }
  const result = await ctx.publisher.publishOne(item, credential);
  if (result.outcome === "conflict") {
    const what = item.keyKind === "key" ? `idempotency key "${idempotencyKey}"` : `event id "${event.id}"`;
    throw new errors.IdempotencyKeyReused(`${what} was already used with a different body in the last 24 h`);
  }
  return result;
}

/** Validates the whole batch first (nothing written on any error), then appends it atomically. */
export async function ingestBatch(
  ctx: IngestContext,
  events: EventEnvelope[],
  credential: string,
): Promise<PublishResult[]> {
  const { limits } = ctx;
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
  const loading = checkTypes(ctx.types, events, true);
  if (loading !== undefined) await loading;
  const results = await ctx.publisher.publish(items, credential);
  const conflicts: ErrorDetail[] = results.flatMap((r, i) =>
    r.outcome === "conflict"
      ? [
          {
            path: `/events/${i}/id`,
            message: `id "${events[i]!.id}" was accepted with a different body in the last 24 h`,
          },
        ]
      : [],
  );
  if (conflicts.length > 0) {
    const message = `${conflicts[0]!.path}: an event id was already used with a different body; nothing was appended`;
    throw withDetails(new errors.IdempotencyKeyReused(message), conflicts);
  }
  return results;
}
