/**
 * Stream entries as the rest of the gateway sees them: decoded envelopes, read back for browsing,
 * redelivery, replays and the trimmer, and a stream's bounds (replays, ledger retention). Each
 * entry has one field, `event`, the envelope JSON as stored.
 */
import type { RedisClient } from "./connections.js";
import type { StreamKeys } from "./keys.js";
import type { EventEnvelope } from "../schemas/envelope.js";

/** A stream entry decoded for browsing or delivery. */
export interface DecodedEntry {
  streamMessageId: string;
  /** The JSON exactly as stored: webhooks send these bytes, so signatures match what was accepted. */
  json: string;
  event: EventEnvelope;
}

/**
 * Decodes the `event` field of a stream entry. Entries written by older producers may lack
 * `meta`; Charter B (docs/CONTRACT.md §1) says they get a default meta instead of being dropped. Returns null for an
 * entry that holds no parseable event (it cannot be delivered; callers dead-letter it).
 */
export function decodeEntry(streamMessageId: string, fields: string[] | null): DecodedEntry | null {
  if (!fields) return null;
  let raw: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === "event") raw = fields[i + 1];
  }
  if (raw === undefined) return null;
  let event: EventEnvelope;
  try {
    event = JSON.parse(raw) as EventEnvelope;
  } catch {
    return null;
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) return null;
  if (typeof event.meta !== "object" || event.meta === null) {
    event = { ...event, meta: { schema_version: 1, producer: String(event.source), source_module: "unknown" } };
    raw = JSON.stringify(event);
  }
  return { streamMessageId, json: raw, event };
}

/**
 * The gateway stores `{"id":"…","type":"…",…}` (ingest/prepare.ts): its type can be read off the
 * front without parsing the whole envelope. The same pattern as the brainReadWanted script's.
 */
const STORED_TYPE = /^\{"id":"[^"\\]*","type":"([^"\\]*)"/;

/**
 * The event type of an entry, or null when it holds no readable one (it is dead-lettered, so
 * every consumer must see it). Only an entry in another shape is parsed whole.
 */
export function entryType(fields: string[] | null): string | null {
  if (!fields) return null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== "event") continue;
    const raw = fields[i + 1]!;
    const front = STORED_TYPE.exec(raw);
    if (front !== null) return front[1]!;
    try {
      const type = (JSON.parse(raw) as { type?: unknown } | null)?.type;
      return typeof type === "string" ? type : null;
    } catch {
      return null;
    }
  }
  return null;
}

/** Raw entries, oldest first: `[id, fields]` from XRANGE. */
export type RawRange = [string, string[]][];

/** Up to `count` raw entries after `after` (exclusive; from the start when undefined), oldest first. */
export async function rangeAfter(
  redis: RedisClient,
  stream: string,
  after: string | undefined,
  count: number,
): Promise<RawRange> {
  return (await redis.xrange(stream, after === undefined ? "-" : `(${after}`, "+", "COUNT", count)) as RawRange;
}

/** The stored entry `id`, decoded; null when it is no longer in the stream. */
export async function readEntry(redis: RedisClient, stream: string, id: string): Promise<DecodedEntry | null> {
  const [entry] = (await redis.xrange(stream, id, id)) as RawRange;
  return decodeEntry(id, entry?.[1] ?? null);
}

/**
 * The envelope JSON a dead letter stands for: the copy it kept, else the entry if the stream still
 * holds it (a `trimmed` dead letter kept none: it may have been cut only from that group's view).
 */
export async function storedEvent(
  redis: RedisClient,
  keys: StreamKeys,
  letter: { event: string | null; streamMessageId: string },
): Promise<string | null> {
  if (letter.event !== null) return letter.event;
  const at = keys.locate(letter.streamMessageId);
  return at === null ? null : ((await readEntry(redis, at.partition.stream, at.id))?.json ?? null);
}

/** Entries in the stream (XLEN); 0 when it does not exist. */
export async function streamLength(redis: RedisClient, stream: string): Promise<number> {
  return redis.xlen(stream);
}

/** The bounds of one partition's stream. */
export interface StreamBounds {
  /** The newest id ever appended (`0-0` for a stream that never held an entry). */
  lastId: string;
  /** The oldest entry still stored; null when none is. */
  firstKept: string | null;
  /**
   * True when entries were removed. The gateway removes entries only from the head (XTRIM in
   * trimmer.ts; it never XDELs), so every id below `firstKept` that was ever appended is gone.
   */
  trimmed: boolean;
}

/** The stream's bounds; a stream that does not exist has neither entries nor trimmed ones. */
export async function streamBounds(redis: RedisClient, stream: string): Promise<StreamBounds> {
  let reply: unknown[];
  try {
    reply = (await redis.xinfo("STREAM", stream)) as unknown[];
  } catch (err) {
    if (String((err as Error).message).includes("no such key"))
      return { lastId: "0-0", firstKept: null, trimmed: false };
    throw err;
  }
  const field = (name: string): unknown => {
    for (let i = 0; i + 1 < reply.length; i += 2) if (reply[i] === name) return reply[i + 1];
    return undefined;
  };
  const first = field("first-entry") as [string, unknown] | null | undefined;
  return {
    lastId: String(field("last-generated-id")),
    firstKept: first ? first[0] : null,
    trimmed: Number(field("entries-added")) > Number(field("length")),
  };
}

/**
 * Up to `count` entries with ids in [`start`, `end`], after `position` when given (exclusive),
 * oldest first.
 */
export async function rangeChunk(
  redis: RedisClient,
  stream: string,
  range: { start: string; end: string; position: string | null },
  count: number,
): Promise<RawRange> {
  const from = range.position === null ? range.start : `(${range.position}`;
  return (await redis.xrange(stream, from, range.end, "COUNT", count)) as RawRange;
}
