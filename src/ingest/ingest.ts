/**
 * Ingest: turns validated request envelopes into stored envelopes and appends them.
 * Every check runs before anything is written, so a rejected request writes nothing.
 */
import { createHash } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { errors, withDetails, type ErrorDetail } from "./errors.js";
import { SUPPORTED_SCHEMA_VERSIONS, type EventEnvelope } from "./schemas/envelope.js";
import type { PublishItem, PublishResult, Publisher } from "./stream/publisher.js";

export const MAX_PAYLOAD_DEPTH = 64;

export interface IngestLimits {
  maxEnvelopeBytes: number;
  maxBatch: number;
}

/** True when `root` nests deeper than `max` levels; iterative, so hostile depth cannot overflow the stack. */
export function nestsDeeperThan(root: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Object.values(value as object)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

const fingerprint = (event: EventEnvelope) => createHash("sha256").update(JSON.stringify(event)).digest("base64url").slice(0, 32);

/**
 * Checks what the schema cannot (supported version, payload depth, stored size), assigns id and
 * timestamp, and serializes the envelope exactly as it will be stored and delivered.
 */
export function prepare(event: EventEnvelope, limits: IngestLimits, path: string, receivedAt: Date): PublishItem {
  const fail = (error: Error, detail: ErrorDetail) => withDetails(error, [detail]);
  const version = event.meta.schema_version;
  if (!(SUPPORTED_SCHEMA_VERSIONS as readonly number[]).includes(version)) {
    const msg = `meta.schema_version ${version} is not supported; supported versions: ${SUPPORTED_SCHEMA_VERSIONS.join(", ")}`;
    throw fail(new errors.UnsupportedSchemaVersion(msg), { path: `${path}/meta/schema_version`, message: msg });
  }
  if (nestsDeeperThan(event.payload, MAX_PAYLOAD_DEPTH)) {
    const msg = `payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`;
    throw fail(new errors.PayloadTooDeep(msg), { path: `${path}/payload`, message: msg });
  }
  const stored: EventEnvelope = {
    id: event.id ?? uuidv7(),
    type: event.type,
    source: event.source,
    target: event.target ?? null,
    payload: event.payload,
    timestamp: event.timestamp ?? receivedAt.toISOString(),
    meta: event.meta,
  };
  const json = JSON.stringify(stored);
  if (Buffer.byteLength(json) > limits.maxEnvelopeBytes) {
    const msg = `the envelope is larger than ${limits.maxEnvelopeBytes} bytes once stored`;
    throw fail(new errors.EnvelopeTooLarge(msg), { path: path || "/", message: msg });
  }
  const item: PublishItem = { json, eventId: stored.id! };
  // The fingerprint only matters with an idempotency key: without one, skip its hash.
  if (event.id !== undefined) {
    item.idempotencyKey = event.id;
    item.fingerprint = fingerprint(event);
  }
  return item;
}

export type IngestOneResult = PublishResult & { replayed: boolean };

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
export async function ingestBatch(publisher: Publisher, events: EventEnvelope[], limits: IngestLimits): Promise<IngestOneResult[]> {
  if (events.length > limits.maxBatch) {
    throw withDetails(new errors.BatchTooLarge(limits.maxBatch), [{ path: "/events", message: `${events.length} events` }]);
  }
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
