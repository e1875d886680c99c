/**
 * Envelope preparation: the checks the schema cannot express, the gateway-assigned fields, and
 * the JSON exactly as it will be stored and delivered. Pure: nothing here writes.
 */
import { createHash } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { errors, withDetails, type ErrorDetail } from "../errors.js";
import { SUPPORTED_SCHEMA_VERSIONS, type EventEnvelope } from "../schemas/envelope.js";
import type { PublishItem } from "../stream/publisher.js";

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

/** Hash of an envelope as sent: tells a retry from an idempotency key reused for another body. */
export const fingerprint = (event: EventEnvelope) =>
  createHash("sha256").update(JSON.stringify(event)).digest("base64url").slice(0, 32);

/**
 * Checks what the schema cannot (supported version, payload depth, stored size), assigns id and
 * timestamp, and serializes the envelope exactly as it will be stored and delivered.
 */
export function prepare(event: EventEnvelope, limits: IngestLimits, path: string, receivedAt: Date): PublishItem {
  const fail = (error: Error, detail: ErrorDetail) => withDetails(error, [detail]);
  const version = event.meta.schema_version;
  if (!(SUPPORTED_SCHEMA_VERSIONS as readonly number[]).includes(version)) {
    const supported = SUPPORTED_SCHEMA_VERSIONS.join(", ");
    const msg = `meta.schema_version ${version} is not supported; supported versions: ${supported}`;
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
