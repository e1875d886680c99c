/**
 * Envelope preparation: the checks the schema cannot express, the gateway-assigned fields, and
 * the JSON exactly as it will be stored and delivered. Pure: nothing here writes.
 */
import { createHash } from "node:crypto";
import { v7 as uuidv7 } from "uuid";
import { errors, withDetails, type ErrorDetail } from "../errors.js";
import type { EventEnvelope } from "../schemas/envelope.js";
import type { PublishItem } from "../stream/publisher.js";

export const MAX_PAYLOAD_DEPTH = 64;

export interface IngestLimits {
  maxEnvelopeBytes: number;
  maxBatch: number;
}

/** A container met by the walk; the path to it is built from its parents only when it is reported. */
interface Frame {
  value: object;
  depth: number;
  parent: Frame | null;
  key: string | number;
}

const escapePointer = (key: string | number) => String(key).replaceAll("~", "~0").replaceAll("/", "~1");

function pointer(frame: Frame | null): string {
  let path = "";
  for (let f = frame; f !== null && f.parent !== null; f = f.parent) path = `/${escapePointer(f.key)}${path}`;
  return path;
}

/** What the walk found: the first container too deep, or the first number JSON parsers cannot hold exactly. */
export type Inspection = { problem: "depth"; path: string } | { problem: "number"; path: string } | null;

/**
 * Walks the envelope once, iteratively (hostile depth cannot overflow the stack): containers
 * nested more than `maxDepth` levels below the envelope, and numbers beyond ±(2^53 − 1), which
 * JSON.parse has already rounded (12345678901234567890 reads as 12345678901234567000).
 */
export function inspect(envelope: object, maxDepth: number): Inspection {
  const stack: Frame[] = [{ value: envelope, depth: 0, parent: null, key: "" }];
  let found: Inspection = null;
  const visit = (frame: Frame, key: string | number, child: unknown) => {
    if (typeof child === "number") {
      if (child > Number.MAX_SAFE_INTEGER || child < -Number.MAX_SAFE_INTEGER) {
        found = { problem: "number", path: `${pointer(frame)}/${escapePointer(key)}` };
      }
    } else if (typeof child === "object" && child !== null) {
      stack.push({ value: child, depth: frame.depth + 1, parent: frame, key });
    }
  };
  while (stack.length > 0 && found === null) {
    const frame = stack.pop()!;
    if (frame.depth > maxDepth) return { problem: "depth", path: pointer(frame) };
    const value = frame.value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length && found === null; i++) visit(frame, i, value[i]);
    } else {
      for (const [key, child] of Object.entries(value)) if (found === null) visit(frame, key, child);
    }
  }
  return found;
}

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/**
 * `inspect`'s verdict without its bookkeeping: true when nothing is too deep and every number is
 * exact. No allocation, for the envelopes that pass (nearly all); recursion is bounded by
 * `maxDepth`, since a container below it fails before its children are visited.
 */
export function withinLimits(value: object, depth: number, maxDepth: number): boolean {
  if (depth > maxDepth) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const child: unknown = value[i];
      if (typeof child === "number") {
        if (child > MAX_EXACT || child < -MAX_EXACT) return false;
      } else if (typeof child === "object" && child !== null && !withinLimits(child, depth + 1, maxDepth)) return false;
    }
    return true;
  }
  // JSON.parse makes plain objects: for…in sees their own keys, `__proto__` included.
  for (const key in value) {
    const child: unknown = (value as Record<string, unknown>)[key];
    if (typeof child === "number") {
      if (child > MAX_EXACT || child < -MAX_EXACT) return false;
    } else if (typeof child === "object" && child !== null && !withinLimits(child, depth + 1, maxDepth)) return false;
  }
  return true;
}

/** Hash of an envelope as sent: tells a retry from an idempotency key reused for another body. */
export const fingerprint = (event: EventEnvelope) =>
  createHash("sha256").update(JSON.stringify(event)).digest("base64url").slice(0, 32);

/** The 400 for what `inspect` found, at `path` (the envelope's pointer in the request). */
function inspectionError(found: NonNullable<Inspection>, path: string): Error {
  if (found.problem === "depth") {
    const msg = `payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`;
    return withDetails(new errors.PayloadTooDeep(msg), [{ path: `${path}/payload`, message: msg }]);
  }
  const msg = "is a number beyond ±(2^53 − 1), which JSON parsers cannot hold exactly; send it as a string";
  return withDetails(new errors.InvalidEnvelope(`${path}${found.path} ${msg}`), [
    { path: `${path}${found.path}`, message: msg },
  ]);
}

/**
 * Checks what the schema cannot (payload depth, exact numbers, stored size),
 * assigns id and timestamp, and serializes the envelope exactly as it will be stored and delivered.
 */
export function prepare(event: EventEnvelope, limits: IngestLimits, path: string, receivedAt: Date): PublishItem {
  const fail = (error: Error, detail: ErrorDetail) => withDetails(error, [detail]);
  // The payload is one level below the envelope: MAX_PAYLOAD_DEPTH counts from the payload itself.
  if (!withinLimits(event, 0, MAX_PAYLOAD_DEPTH)) {
    // `inspect` names the first problem; `withinLimits` only had to tell that there is one.
    const found = inspect(event, MAX_PAYLOAD_DEPTH);
    if (found !== null) throw inspectionError(found, path);
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
  if (event.ordering_key !== undefined) stored.ordering_key = event.ordering_key;
  const json = JSON.stringify(stored);
  if (Buffer.byteLength(json) > limits.maxEnvelopeBytes) {
    const msg = `the envelope is larger than ${limits.maxEnvelopeBytes} bytes once stored`;
    throw fail(new errors.EnvelopeTooLarge(msg), { path: path || "/", message: msg });
  }
  const item: PublishItem = { json, eventId: stored.id! };
  const routingKey = event.ordering_key ?? event.id;
  if (routingKey !== undefined) item.routingKey = routingKey;
  // The fingerprint only matters with an idempotency key: without one, skip its hash.
  if (event.id !== undefined) {
    item.idempotencyKey = event.id;
    item.keyKind = "id";
    item.fingerprint = fingerprint(event);
  }
  return item;
}
