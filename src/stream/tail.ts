/**
 * The live tail (GET /v1/events/tail): new entries as server-sent events, optionally of one type.
 *
 * A tail holds no Redis connection of its own. It registers one Watch per partition with the
 * process's stream watcher (watcher.ts: one blocking XREAD for the whole process) and reads with
 * XRANGE after its own cursor on the shared command connection whenever a watch wakes it. So the
 * stream itself is the buffer: a tail keeps no queue of entries, only a cursor per partition.
 *
 * Order and resume: each round reads every partition after its cursor and sends the entries in
 * (ms, seq, partition) order. When a partition returns a full chunk (a backlog), only entries up
 * to the smallest last id of the full chunks are sent; the rest are read again next round. So one
 * id, the SSE `id` of the last event received, says where every partition resumes: after
 * `p:X`, partition q resumes after X below-or-at p and at X above p. That is exact only if no
 * entry with an id below X can still come to another partition once X was sent; with several
 * partitions one could, appended in X's very millisecond. So each read also takes the Redis clock
 * (one script, brainTailRead), and an entry is sent only once its millisecond is below the clock
 * of every partition's read: whatever comes later gets a later id. An entry is held for at most
 * HOLD_MAX_MS; one further ahead of the clocks (masters' clocks that far apart, ids set by hand) is
 * sent at once, and a resume may then miss an entry in another partition.
 *
 * A client that reads too slowly is not buffered for: once more than OVERFLOW_BYTES wait in its
 * socket's buffer it gets `event: overflow` and the response ends, and it reconnects with
 * Last-Event-ID.
 */
import type { RedisClient } from "./connections.js";
import { decodeEntry, entryType, type RawRange } from "./entries.js";
import { compareIds, qualifyId } from "./ids.js";
import type { PartitionKeys } from "./keys.js";
import { withScripts } from "./scripts.js";
import type { StreamWatcher, Watch } from "./watcher.js";

/** Bytes waiting in a client's socket buffer beyond which it is ended with `event: overflow`. */
export const OVERFLOW_BYTES = 1024 * 1024;
/** A comment line this often keeps proxies and clients from timing an idle tail out. */
export const HEARTBEAT_MS = 15_000;
/** Entries read per partition per round. */
const CHUNK = 100;
/** The longest an entry waits for the partitions' clocks to pass its millisecond. */
const HOLD_MAX_MS = 1000;
/** An overflowed client that does not take its last bytes within this is cut off. */
const END_GRACE_MS = 10_000;

/** Where a response is written: the parts of http.ServerResponse a tail uses. */
export interface TailSink {
  write(chunk: string): boolean;
  end(done?: () => void): void;
  destroy(): void;
  readonly socket: { end(): void } | null;
  readonly writableLength: number;
  once(event: "close", listener: () => void): unknown;
}

export interface TailOptions {
  redis: RedisClient;
  watcher: StreamWatcher;
  partitions: PartitionKeys[];
  /** Only entries of this type; all when undefined. */
  type?: string;
  /** Resume strictly after this entry (its partition and id); from the stream's end when undefined. */
  after?: { partition: PartitionKeys; id: string };
  heartbeatMs?: number;
}

interface Cursor {
  part: PartitionKeys;
  watch: Watch;
  /** The next XRANGE start: an id (inclusive) or `(id` (exclusive). */
  from: string;
}

/** The millisecond part of a stream id. */
const msOf = (id: string) => Number(id.slice(0, id.indexOf("-")));

/** One client's tail: `run` writes to the sink until `stop`, the client leaving, or an overflow. */
export class EventTail {
  private stopped = false;
  private wake: (() => void) | null = null;
  private readonly cursors: Cursor[];
  /** The watches' versions before the last read (watcher.ts: take it before a read, wait with it after). */
  private marks: number[] = [];

  constructor(private readonly opts: TailOptions) {
    withScripts(opts.redis);
    const wants = opts.type === undefined ? () => true : (type: string) => type === opts.type;
    // No consumer group: the watcher's group audit wakes a tail every 2 s to no effect (one empty XRANGE).
    this.cursors = opts.partitions.map((part) => ({
      part,
      watch: opts.watcher.watch(part.stream, "", wants),
      from: "",
    }));
  }

  /** Ends the tail: the run loop returns and the watches are released. */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /**
   * Sets each partition's cursor: after the resume point, else after its newest entry. Before the
   * response begins, so an event appended once the client saw the answer is sent.
   */
  async start(): Promise<void> {
    this.marks = this.cursors.map((c) => c.watch.version());
    const after = this.opts.after;
    try {
      for (const c of this.cursors) {
        if (after === undefined) {
          const [last] = (await this.opts.redis.xrevrange(c.part.stream, "+", "-", "COUNT", 1)) as RawRange;
          c.from = last === undefined ? "-" : `(${last[0]}`;
        } else {
          c.from = c.part.index <= after.partition.index ? `(${after.id}` : after.id;
        }
      }
    } catch (err) {
      for (const c of this.cursors) c.watch.close();
      throw err;
    }
  }

  /** Writes events to `sink` until stopped (after `start`); resolves with why it ended. Rejects on a Redis failure. */
  async run(sink: TailSink): Promise<"stopped" | "overflow"> {
    const heartbeat = setInterval(() => sink.write(": heartbeat\n\n"), this.opts.heartbeatMs ?? HEARTBEAT_MS);
    heartbeat.unref();
    const marks = this.marks;
    try {
      while (!this.stopped) {
        const { more, heldMs } = await this.round(sink);
        if (sink.writableLength > OVERFLOW_BYTES) return this.overflow(sink);
        if (this.stopped) break;
        if (more) {
          for (let i = 0; i < marks.length; i++) marks[i] = this.cursors[i]!.watch.version();
          continue;
        }
        await this.waitForEntries(marks, heldMs);
        for (let i = 0; i < marks.length; i++) marks[i] = this.cursors[i]!.watch.version();
      }
      return "stopped";
    } finally {
      clearInterval(heartbeat);
      for (const c of this.cursors) c.watch.close();
    }
  }

  /**
   * Reads every partition once and sends what can be sent in order: `more` when a backlog remains,
   * `heldMs` when entries wait for the clocks (in about that many milliseconds).
   */
  private async round(sink: TailSink): Promise<{ more: boolean; heldMs?: number }> {
    const read = await Promise.all(
      this.cursors.map(async (c) => {
        const [seconds, micros, entries] = await this.opts.redis.brainTailRead(c.part.stream, c.from, CHUNK);
        return [c, entries, Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)] as const;
      }),
    );
    let horizon: string | null = null;
    // One partition resumes exactly from its own id: nothing to wait for.
    let clock = read.length === 1 ? Infinity : Math.min(...read.map(([, , now]) => now));
    let held: number | undefined;
    for (const [, entries] of read) {
      if (entries.length < CHUNK) continue;
      const last = entries[entries.length - 1]![0];
      if (horizon === null || compareIds(last, horizon) < 0) horizon = last;
    }
    const within = (id: string) => horizon === null || compareIds(id, horizon) <= 0;
    // An entry too far ahead of the clocks turns the hold off for the round, to keep the order.
    for (const [, entries] of read)
      for (const [id] of entries) if (within(id) && msOf(id) - clock >= HOLD_MAX_MS) clock = Infinity;
    const due: { cursor: Cursor; id: string; fields: string[] }[] = [];
    for (const [cursor, entries] of read)
      for (const [id, fields] of entries) {
        if (!within(id)) break;
        if (msOf(id) >= clock) {
          held = Math.min(held ?? Infinity, msOf(id) - clock + 1);
          break;
        }
        due.push({ cursor, id, fields });
      }
    due.sort((a, b) => compareIds(a.id, b.id) || a.cursor.part.index - b.cursor.part.index);
    for (const { cursor, id, fields } of due) {
      cursor.from = `(${id}`;
      if (this.opts.type !== undefined && entryType(fields) !== this.opts.type) continue;
      const qualified = qualifyId(this.opts.partitions.length, cursor.part.index, id);
      const decoded = decodeEntry(qualified, fields);
      if (decoded === null) continue;
      // A data line ends at a newline: an envelope stored with one (written around the gateway) is re-serialized.
      const json = /[\r\n]/.test(decoded.json) ? JSON.stringify(decoded.event) : decoded.json;
      sink.write(`id: ${qualified}\nevent: event\ndata: {"stream_message_id":"${qualified}","event":${json}}\n\n`);
      if (sink.writableLength > OVERFLOW_BYTES) return { more: false };
    }
    // Entries held back: wait for the clocks even with a backlog, rather than read it again at once.
    return held === undefined ? { more: horizon !== null } : { more: false, heldMs: held };
  }

  /**
   * Until a partition moved past its mark with an entry of the wanted type, `ms` passed (entries
   * held for the clocks), or the tail stops.
   */
  private async waitForEntries(marks: number[], ms?: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      ...this.cursors.map((c, i) => c.watch.wait(marks[i]!)),
      new Promise<void>((resolve) => {
        this.wake = resolve;
        if (ms !== undefined) timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
    this.wake = null;
  }

  private overflow(sink: TailSink): "overflow" {
    sink.write('event: overflow\ndata: {"reason":"the client read too slowly; reconnect with Last-Event-ID"}\n\n');
    // The connection closes once the client has the buffered bytes: it would otherwise stay open, idle.
    const socket = sink.socket;
    sink.end(() => socket?.end());
    // A client that reads none of them is cut off.
    const cut = setTimeout(() => sink.destroy(), END_GRACE_MS);
    cut.unref();
    sink.once("close", () => clearTimeout(cut));
    return "overflow";
  }
}
