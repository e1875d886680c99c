/**
 * Browsing the stream (GET /v1/events): a page of entries oldest first (partition by partition,
 * each oldest first, as before partitions existed) or newest first (merged across partitions by
 * (ms, seq, partition), so a page is one timeline), optionally filtered by event type or envelope
 * id. Reads are XRANGE/XREVRANGE in chunks on the shared command connection; nothing is kept
 * between requests: the cursor (`next`) is the last entry scanned, qualified by its partition.
 *
 * A filtered page scans at most SCAN_MAX_ENTRIES entries and SCAN_MAX_BYTES of them, so a filter
 * that matches nothing costs a bounded amount per request; the page then ends early, with `next`
 * where the scan stopped, even with fewer than `limit` events (possibly none).
 */
import type { RedisClient } from "./connections.js";
import { decodeEntry, entryType, type RawRange } from "./entries.js";
import { compareIds, qualifyId } from "./ids.js";
import type { PartitionKeys } from "./keys.js";

/** Entries one filtered request scans at most. */
export const SCAN_MAX_ENTRIES = 10_000;
/** Bytes of entries one filtered request scans at most: 10,000 entries of 256 KiB would be 2.5 GB. */
export const SCAN_MAX_BYTES = 16 * 1024 * 1024;
/** Bytes of events one page holds at most (always at least one event). */
export const PAGE_MAX_BYTES = 1024 * 1024;
/** Entries read at most per XRANGE/XREVRANGE. */
const CHUNK = 100;

export interface BrowseQuery {
  order: "oldest" | "newest";
  /** Where the previous page ended (`after` when oldest, `before` when newest); undefined: the stream's end. */
  cursor?: { partition: PartitionKeys; id: string };
  type?: string;
  eventId?: string;
  limit: number;
  /** An upper bound of an entry's size (BRAIN_MAX_ENVELOPE_BYTES): sizes the first chunk of a page. */
  largest: number;
}

export interface BrowsePage {
  /** Each `{"stream_message_id":…,"event":…}` as JSON, the envelope as stored. */
  events: string[];
  next: string | null;
}

/** The stored envelope's own id, read off its front like entryType reads the type. */
const STORED_ID = /^\{"id":"([^"\\]*)"/;

function entryId(fields: string[]): string | null {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== "event") continue;
    const front = STORED_ID.exec(fields[i + 1]!);
    if (front !== null) return front[1]!;
    return decodeEntry("", fields)?.event.id ?? null;
  }
  return null;
}

const entryBytes = (fields: string[]) => fields.reduce((n, f) => n + Buffer.byteLength(f), 0);

/** One partition read in one direction, a chunk at a time. */
class Reader {
  private buffer: RawRange = [];
  private at = 0;
  private exhausted = false;
  /** The next read's bound: `+`/`-`, an id (inclusive) or `(id` (exclusive). */
  private bound: string;

  constructor(
    private readonly redis: RedisClient,
    readonly part: PartitionKeys,
    private readonly newest: boolean,
    bound: string,
  ) {
    this.bound = bound;
  }

  /** The next entry without taking it; null once the partition has no more. `want` sizes a read. */
  async peek(want: number): Promise<[string, string[]] | null> {
    if (this.at < this.buffer.length) return this.buffer[this.at]!;
    if (this.exhausted) return null;
    const count = Math.max(1, Math.min(CHUNK, want));
    const stream = this.part.stream;
    this.buffer = (
      this.newest
        ? await this.redis.xrevrange(stream, this.bound, "-", "COUNT", count)
        : await this.redis.xrange(stream, this.bound, "+", "COUNT", count)
    ) as RawRange;
    this.at = 0;
    if (this.buffer.length < count) this.exhausted = true;
    if (this.buffer.length === 0) return null;
    this.bound = `(${this.buffer[this.buffer.length - 1]![0]}`;
    return this.buffer[0]!;
  }

  take(): void {
    this.at++;
  }
}

/** Newest first across partitions: (ms, seq) descending, then the higher partition first. */
function newer(a: Reader, ai: string, b: Reader, bi: string): boolean {
  const c = compareIds(ai, bi);
  return c !== 0 ? c > 0 : a.part.index > b.part.index;
}

/**
 * The readers of a page. Newest first after `p:X`, partition q holds the entries strictly older
 * in (ms, seq, partition) order: ids up to X inclusive below p, exclusive from p on.
 */
function readers(redis: RedisClient, partitions: PartitionKeys[], query: BrowseQuery): Reader[] {
  const { cursor } = query;
  if (query.order === "newest") {
    return partitions.map((part) => {
      const bound = cursor === undefined ? "+" : part.index < cursor.partition.index ? cursor.id : `(${cursor.id}`;
      return new Reader(redis, part, true, bound);
    });
  }
  const from = cursor?.partition.index ?? 0;
  return partitions
    .slice(from)
    .map(
      (part) =>
        new Reader(redis, part, false, cursor !== undefined && part === cursor.partition ? `(${cursor.id}` : "-"),
    );
}

/** One page of the stream for `query` (the module comment has the rules). */
export async function browse(redis: RedisClient, partitions: PartitionKeys[], query: BrowseQuery): Promise<BrowsePage> {
  const filtered = query.type !== undefined || query.eventId !== undefined;
  const count = partitions.length;
  const sources = readers(redis, partitions, query);
  const events: string[] = [];
  let bytes = 0;
  let scanned = 0;
  let scannedBytes = 0;
  let largest = query.largest;
  let next: string | null = null;
  let ended = false;
  for (;;) {
    if (events.length >= query.limit) break;
    if (filtered && (scanned >= SCAN_MAX_ENTRIES || scannedBytes >= SCAN_MAX_BYTES)) break;
    const room = Math.max(1, Math.floor((PAGE_MAX_BYTES - bytes) / largest));
    const want = filtered ? Math.min(SCAN_MAX_ENTRIES - scanned, room) : Math.min(query.limit - events.length, room);
    const source = await pick(sources, query.order === "newest", want);
    if (source === null) {
      ended = true;
      break;
    }
    const [id, fields] = (await source.peek(want))!;
    const size = entryBytes(fields);
    largest = Math.max(1, size);
    const match =
      (query.type === undefined || entryType(fields) === query.type) &&
      (query.eventId === undefined || entryId(fields) === query.eventId);
    const qualified = qualifyId(count, source.part.index, id);
    const decoded = match ? decodeEntry(qualified, fields) : null;
    if (decoded !== null && events.length > 0 && bytes + size > PAGE_MAX_BYTES) break;
    source.take();
    scanned++;
    scannedBytes += size;
    next = qualified;
    if (decoded === null) continue;
    events.push(`{"stream_message_id":${JSON.stringify(qualified)},"event":${decoded.json}}`);
    bytes += size;
  }
  // Newest first, nothing older ever appears: a scan that reached the start has no next page.
  if (query.order === "newest" && ended) next = null;
  return { events, next };
}

/** The reader holding the next entry of the page, or null when every one is exhausted. */
async function pick(sources: Reader[], newest: boolean, want: number): Promise<Reader | null> {
  if (!newest) {
    while (sources.length > 0) {
      if ((await sources[0]!.peek(want)) !== null) return sources[0]!;
      sources.shift();
    }
    return null;
  }
  let best: Reader | null = null;
  let bestId = "";
  for (const source of sources) {
    const entry = await source.peek(want);
    if (entry === null) continue;
    if (best === null || newer(source, entry[0], best, bestId)) {
      best = source;
      bestId = entry[0];
    }
  }
  return best;
}
