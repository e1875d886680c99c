/**
 * The stream watcher: one blocking read per process that waits for the tail of the stream's
 * partitions to move, so consumers need no blocking connection of their own and a process's
 * Redis connections do not grow with its subscribers.
 *
 * Standalone, it is ONE connection running `XREAD COUNT n BLOCK … STREAMS <every partition>
 * <last id seen of each>`. In cluster mode a multi-key XREAD across slots is CROSSSLOT, so there
 * is one blocking connection per partition (each to the master owning its slot, blocking.ts):
 * bounded by the partition count, never by the subscribers.
 *
 * Consumers (consumer/event-consumer.ts) read with a non-blocking XREADGROUP on the shared
 * command connection and wait here between reads. Each partition has a version that grows
 * whenever the watcher sees new entries in it; a consumer takes the version BEFORE it reads and
 * waits with it afterwards, so an entry appended between its empty read and its wait still wakes
 * it: the version has moved by then (and the types of the recent versions tell whether it wants
 * one of them), or moves when the watcher sees the entry.
 *
 * XREAD returns the entries, so the watcher decodes each entry's type once and wakes at once
 * only the consumers that want one of the new types. The others are woken lazily by one shared
 * timer, a second after they began to wait and only if their partition moved, so unwanted
 * entries are still read and ACKed and a group's lag does not grow without bound. Without the
 * lazy wait a consumer of a rare type would re-read on every new entry of the busy ones.
 *
 * Every 2 s one non-blocking XINFO GROUPS per partition wakes the consumers whose group is gone
 * (they recreate it) or was moved back behind the tail (XGROUP SETID, a recreated group): a
 * group's position can change without a new entry, and a wait for the tail would not see it.
 */
import { BlockingConnection } from "./blocking.js";
import { Cluster } from "ioredis";
import type { RedisClient } from "./connections.js";
import { entryType } from "./entries.js";
import { compareIds } from "./ids.js";

/** Entries per partition per XREAD: bounds a reply when a burst arrives. */
const WATCH_COUNT = 500;
/** Closing disconnects the blocked read, so the block can be long: it only bounds an idle round trip. */
const BLOCK_MS = 5000;
const LAZY_MS = 1000;
/** The shared timer's period: lazy wakes fall due at their consumer's own time, not all at once. */
const TICK_MS = 100;
/** Ticks between two looks at the groups' positions (2 s). */
const AUDIT_TICKS = 20;
/** Versions whose types are kept: a consumer that waits with an older mark is woken at once. */
const RECENT = 64;
/** Distinct types remembered per partition with the consumers that want them; beyond it the memo restarts. */
const MEMO_TYPES = 1000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

interface Tail {
  stream: string;
  /** The last id seen; null until the watcher has read the stream's current end. */
  id: string | null;
  /** Grows with every batch of new entries seen (and on errors, to make consumers look again). */
  version: number;
  /** The types of the last RECENT versions, oldest first; null: every consumer must look. */
  recent: { version: number; types: string[] | null }[];
  watches: Set<Watch>;
  /** Event type → the watches that want it. Cleared whenever a watch joins, leaves or changes. */
  wanting: Map<string, Watch[]>;
}

/** One consumer's registration: it waits here between its non-blocking reads. */
export class Watch {
  private wake: (() => void) | null = null;
  private mark = 0;
  private paused = false;
  private since = 0;

  constructor(
    private readonly tail: Tail,
    readonly group: string,
    /** True when the consumer has a handler for the type. */
    readonly wants: (type: string) => boolean,
  ) {}

  /** The partition's version now: take it before a read and wait with it after. */
  version(): number {
    return this.tail.version;
  }

  /**
   * Resolves once the partition moved past `mark` with an entry this consumer wants (at once if
   * it already did), a second later if only unwanted entries came, or on `nudge`.
   */
  wait(mark: number): Promise<void> {
    if (this.tail.version > mark && this.wantedSince(mark)) return Promise.resolve();
    return this.park(mark, false);
  }

  /** Resolves on `nudge` or the next lazy tick: for a consumer that may not read for now. */
  pause(): Promise<void> {
    return this.park(this.tail.version, true);
  }

  /** Wakes a waiting consumer now (room was made, a lease was taken, it is stopping). */
  nudge(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** @internal New entries it wants arrived: wakes it unless it is paused (it could not read them). */
  arrived(): void {
    if (!this.paused) this.nudge();
  }

  /** The consumer's handlers changed: the watcher asks `wants` again. */
  changed(): void {
    this.tail.wanting.clear();
  }

  /** Unregisters; a pending wait resolves. */
  close(): void {
    this.tail.watches.delete(this);
    this.tail.wanting.clear();
    this.nudge();
  }

  /** @internal The lazy wake, a second after the wait began: paused, or the partition moved with nothing wanted. */
  tick(now: number): void {
    if (this.wake !== null && now - this.since >= LAZY_MS && (this.paused || this.tail.version > this.mark))
      this.nudge();
  }

  /** True when a version after `mark` may hold a type this consumer wants (or is too old to tell). */
  private wantedSince(mark: number): boolean {
    const recent = this.tail.recent;
    if (recent.length === 0 || recent[0]!.version > mark + 1) return true;
    for (let i = recent.length - 1; i >= 0 && recent[i]!.version > mark; i--) {
      const types = recent[i]!.types;
      if (types === null || types.some((type) => this.wants(type))) return true;
    }
    return false;
  }

  private park(mark: number, paused: boolean): Promise<void> {
    this.nudge();
    this.mark = mark;
    this.paused = paused;
    this.since = Date.now();
    return new Promise<void>((resolve) => (this.wake = resolve));
  }
}

export class StreamWatcher {
  private readonly tails = new Map<string, Tail>();
  private readonly lanes: { conn: BlockingConnection; tails: Tail[] }[];
  private loops: Promise<void>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private ticks = 0;
  private auditing = false;
  private closed = false;

  /** `redis` is the command connection the watcher stands beside; `streams` are the partitions' keys. */
  constructor(
    private readonly redis: RedisClient,
    streams: string[],
    private readonly onError: (err: Error) => void,
  ) {
    for (const stream of streams)
      this.tails.set(stream, { stream, id: null, version: 0, recent: [], watches: new Set(), wanting: new Map() });
    const all = [...this.tails.values()];
    this.lanes =
      redis instanceof Cluster
        ? all.map((t) => ({ conn: new BlockingConnection(redis, t.stream, "watch"), tails: [t] }))
        : [{ conn: new BlockingConnection(redis, all[0]!.stream, "watch"), tails: all }];
  }

  /** Registers a consumer of `group` on `stream` (one of the watcher's); the watcher starts with its first consumer. */
  watch(stream: string, group: string, wants: (type: string) => boolean): Watch {
    const tail = this.tails.get(stream);
    if (tail === undefined) throw new Error(`the watcher does not watch ${stream}`);
    const watch = new Watch(tail, group, wants);
    tail.watches.add(watch);
    tail.wanting.clear();
    if (!this.closed && this.timer === null) {
      this.loops = this.lanes.map((lane) => this.run(lane));
      this.timer = setInterval(() => this.tick(), TICK_MS).unref();
    }
    return watch;
  }

  /** Stops at once: the blocked reads are disconnected and every waiting consumer wakes. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    for (const lane of this.lanes) lane.conn.close();
    for (const tail of this.tails.values()) for (const w of tail.watches) w.nudge();
    await Promise.allSettled(this.loops);
  }

  private tick(): void {
    const now = Date.now();
    for (const tail of this.tails.values()) for (const w of tail.watches) w.tick(now);
    if (++this.ticks % AUDIT_TICKS !== 0 || this.auditing) return;
    this.auditing = true;
    void Promise.all([...this.tails.values()].map((tail) => this.audit(tail))).finally(() => (this.auditing = false));
  }

  /** Wakes the consumers of groups that are gone or behind the tail without a new entry to show for it. */
  private async audit(tail: Tail): Promise<void> {
    if (tail.watches.size === 0 || tail.id === null) return;
    let positions: Map<string, string>;
    try {
      const groups = (await this.redis.xinfo("GROUPS", tail.stream)) as (string | number | null)[][];
      positions = new Map(groups.map((g) => [String(g[1]), String(g[g.indexOf("last-delivered-id") + 1])]));
    } catch {
      // No stream, so no group: the consumers' reads recreate it (or report why not).
      positions = new Map();
    }
    for (const w of tail.watches) {
      const at = positions.get(w.group);
      if (at === undefined || compareIds(at, tail.id) < 0) w.arrived();
    }
  }

  private async run(lane: { conn: BlockingConnection; tails: Tail[] }): Promise<void> {
    let backoff = 100;
    while (!this.closed) {
      try {
        const conn = await lane.conn.get();
        for (const tail of lane.tails) if (tail.id === null) await this.start(conn, tail);
        const reply = (await conn.xread(
          "COUNT",
          WATCH_COUNT,
          "BLOCK",
          BLOCK_MS,
          "STREAMS",
          ...lane.tails.map((t) => t.stream),
          ...lane.tails.map((t) => t.id!),
        )) as [string, [string, string[]][]][] | null;
        backoff = 100;
        for (const [stream, entries] of reply ?? []) this.moved(this.tails.get(stream)!, entries);
      } catch (err) {
        if (this.closed) break;
        lane.conn.failed(err as Error);
        this.onError(err as Error);
        // Consumers look for themselves: their reads report the failure or heal a missing group.
        for (const tail of lane.tails) this.wakeAll(tail);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** Learns where the stream ends now; consumers waiting since before read again. */
  private async start(conn: RedisClient, tail: Tail): Promise<void> {
    const last = (await conn.xrevrange(tail.stream, "+", "-", "COUNT", 1)) as [string, string[]][];
    tail.id = last[0]?.[0] ?? "0-0";
    this.wakeAll(tail);
  }

  private wakeAll(tail: Tail): void {
    this.advance(tail, null);
    for (const w of tail.watches) w.nudge();
  }

  /** A new version with what it brought (null: every consumer must look). */
  private advance(tail: Tail, types: string[] | null): void {
    tail.version++;
    tail.recent.push({ version: tail.version, types });
    if (tail.recent.length > RECENT) tail.recent.shift();
  }

  private moved(tail: Tail, entries: [string, string[]][]): void {
    if (entries.length === 0) return;
    tail.id = entries[entries.length - 1]![0];
    const types = new Set<string>();
    for (const [, fields] of entries) {
      const type = entryType(fields);
      // An entry without a readable type is dead-lettered by every consumer: all must see it.
      if (type === null) return this.wakeAll(tail);
      types.add(type);
    }
    this.advance(tail, [...types]);
    for (const type of types) for (const w of this.wanting(tail, type)) w.arrived();
  }

  private wanting(tail: Tail, type: string): Watch[] {
    let found = tail.wanting.get(type);
    if (found === undefined) {
      if (tail.wanting.size >= MEMO_TYPES) tail.wanting.clear();
      found = [...tail.watches].filter((w) => w.wants(type));
      tail.wanting.set(type, found);
    }
    return found;
  }
}
