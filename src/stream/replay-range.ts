/**
 * What a replay reads from one partition's stream: its bounds (XINFO STREAM) when the replay is
 * created, then the entries of its range in chunks (XRANGE). Reads only; the shared command
 * connection serves them, so replays cost no connection of their own.
 */
import type { RedisClient } from "./connections.js";
import type { RawRange } from "./entries.js";

/** The bounds of one partition's stream. */
export interface StreamBounds {
  /** The newest id ever appended (`0-0` for a stream that never held an entry). */
  lastId: string;
  /** The oldest entry still stored; null when none is. */
  firstKept: string | null;
  /**
   * True when entries were removed. The gateway removes entries only from the head (XTRIM in
   * stream/trimmer.ts; it never XDELs), so every id below `firstKept` that was ever appended is gone.
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
