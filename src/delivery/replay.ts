/**
 * One replay, run by the process holding its lease (replay-worker.ts claims it):
 *
 *   count the entries the subscriber wants in each partition's range (once, `total`)
 *   → per partition, per chunk of about a second's sends (XRANGE from the saved position):
 *       send each wanted entry, paced at max_per_second, at most REPLAY_CONCURRENCY at once
 *       → save the position (the chunk's last id) and the counts in one UPDATE
 *   → completed (or failed: the receiver answered 410 Gone)
 *
 * Each request is the live one (body = the stored envelope, `webhook-id` = the stream id, signed
 * with the subscriber's secrets) plus `x-brain-replay: <replay id>`. It bypasses the dedup ledger
 * on purpose and writes neither dedup rows nor dead letters, so a replay can never hide an entry
 * from live delivery. A process that dies mid-chunk leaves that chunk's position unsaved; whoever
 * takes over sends the chunk again (at least once). A heartbeat renews the lease every
 * HEARTBEAT_MS and stops the run when the replay was cancelled, its subscriber disabled (it
 * waits, lease released) or deleted, or the lease was lost.
 */
import type { FastifyBaseLogger } from "fastify";
import { setTimeout as sleep } from "node:timers/promises";
import type { Db } from "../db/client.js";
import {
  finishReplay,
  releaseReplay,
  renewReplay,
  saveProgress,
  type ReplayProgress,
  type ReplayRange,
  type ReplayRow,
} from "../db/replays.js";
import type { Metrics } from "../metrics.js";
import { TypeMatcher } from "../schemas/type-patterns.js";
import type { RedisClient } from "../stream/connections.js";
import { decodeEntry, entryType, rangeChunk, type DecodedEntry, type RawRange } from "../stream/entries.js";
import { compareIds, qualifyId } from "../stream/ids.js";
import type { StreamKeys } from "../stream/keys.js";
import { loadSubscriber, type SubscriberConfig } from "./subscriber-config.js";
import type { WebhookClient } from "./webhook-client.js";

export interface ReplayDeps {
  db: Db;
  redis: RedisClient;
  keys: StreamKeys;
  client: WebhookClient;
  secretKey: string | null;
  metrics: Metrics;
  log: FastifyBaseLogger;
  /** This process's lease owner id. */
  owner: string;
}

/** A holder that stops renewing (killed) blocks its replay this long before another process takes it. */
export const REPLAY_LEASE_MS = 10_000;
/** Also how soon a cancel, a disabled subscriber or a lost lease stops the run. */
const HEARTBEAT_MS = 400;
/** Requests of one replay open at once: a slow receiver slows the replay, not the live deliveries. */
export const REPLAY_CONCURRENCY = 4;
/** Waits before the 2nd and 3rd attempt of a transient failure; then the entry counts as failed. */
const RETRY_DELAYS_MS = [500, 2000];
const RETRY_AFTER_CAP_MS = 5000;
const COUNT_CHUNK = 1000;
/**
 * Entries a run reads (and decodes) per second at most, counting or skipping unwanted types: the
 * reads share the request connection with ingest, and decoding costs this process's event loop
 * (2–4 µs for a 509-byte envelope, measured on the loaded bench box, plus the reply's parsing: at
 * 20,000/s about a tenth of a core). A million-entry range counts in 50 s.
 */
const READ_RATE = 20_000;

const typesOf = (sub: SubscriberConfig) => new TypeMatcher(sub.eventTypes.map((t) => [t, true] as const));

/** Why a run stopped before the end; `error`: Redis or Postgres failed it, the next poll takes it up again. */
type StopReason = "cancelled" | "paused" | "lost" | "shutdown" | "gone" | "error";

export class ReplayRun {
  readonly id: string;
  readonly done: Promise<void>;
  private readonly stopper = new AbortController();
  private stopReason: StopReason | null = null;
  private readonly progress: ReplayProgress;
  private readonly only: TypeMatcher<true> | null;
  private readonly intervalMs: number;
  private nextSendAt = 0;

  constructor(
    private readonly deps: ReplayDeps,
    private readonly row: ReplayRow,
  ) {
    this.id = row.id;
    const { ranges, total, sent, delivered, failed } = row;
    this.progress = { ranges: ranges.map((r) => ({ ...r })), total, sent, delivered, failed };
    this.only = row.eventTypes === null ? null : new TypeMatcher(row.eventTypes.map((t) => [t, true] as const));
    this.intervalMs = 1000 / row.maxPerSecond;
    this.done = this.run().catch((err: Error) =>
      deps.log.warn({ replay: this.id, err: err.message }, "replay not settled; its lease lapses"),
    );
  }

  /** Stops sending; the run then saves or releases as the reason requires. */
  halt(reason: StopReason): void {
    this.stopReason ??= reason;
    this.stopper.abort();
  }

  private get stopped(): boolean {
    return this.stopReason !== null;
  }

  private async run(): Promise<void> {
    const heartbeat = setInterval(() => void this.renew(), HEARTBEAT_MS);
    try {
      await this.work();
    } catch (err) {
      this.deps.log.warn(
        { replay: this.id, err: (err as Error).message },
        "replay interrupted; resumes from its saved position",
      );
      this.halt("error");
    } finally {
      clearInterval(heartbeat);
      await this.settle();
    }
  }

  private async work(): Promise<void> {
    if (this.progress.total === null) {
      const total = await this.count();
      if (total === null) return;
      this.progress.total = total;
      if (!(await this.save())) return this.halt("lost");
    }
    for (const range of this.progress.ranges) {
      let rangeDone = false;
      while (!rangeDone && !this.stopped) rangeDone = await this.sendChunk(range);
    }
  }

  private async renew(): Promise<void> {
    try {
      const lease = await renewReplay(this.deps.db, this.id, this.deps.owner, REPLAY_LEASE_MS);
      if (lease === null) this.halt("lost");
      else if (lease.state !== "running") this.halt("cancelled");
      else if (!lease.enabled) this.halt("paused");
    } catch {
      // Postgres unreachable: the next save fails the run, or the next renewal succeeds.
    }
  }

  /** Ends the run as its reason says. */
  private async settle(): Promise<void> {
    const { db, owner } = this.deps;
    switch (this.stopReason) {
      case null:
        return finishReplay(db, this.id, owner, "completed");
      case "gone":
        await this.save();
        return finishReplay(db, this.id, owner, "failed", "the receiver answered 410 Gone");
      case "cancelled":
        // What was sent before the cancel counts; the position no longer matters.
        await this.save();
        return releaseReplay(db, this.id, owner);
      case "paused":
      case "shutdown":
      case "error":
        return releaseReplay(db, this.id, owner);
      case "lost":
        return;
    }
  }

  private save(): Promise<boolean> {
    return saveProgress(this.deps.db, this.id, this.deps.owner, this.progress);
  }

  /** The subscriber as it is now (URL, secrets, types may change during a replay); null once deleted. */
  private async subscriber(): Promise<SubscriberConfig | null> {
    const sub = await loadSubscriber(this.deps.db, this.row.subscriberName, this.deps.secretKey);
    if (sub === null) this.halt("lost");
    return sub;
  }

  /** Whether the run sends an entry of `type`: one the subscriber wants, narrowed by the replay's types. */
  private sends(subscriberTypes: TypeMatcher<true>, type: string | null): boolean {
    return (
      type !== null &&
      subscriberTypes.match(type) !== undefined &&
      (this.only === null || this.only.match(type) !== undefined)
    );
  }

  /** The entries of `raw` to send, decoded; the others are told apart by their type alone. */
  private wanted(sub: SubscriberConfig, partition: number, raw: RawRange): DecodedEntry[] {
    const types = typesOf(sub);
    const partitions = this.deps.keys.partitions.length;
    return raw.flatMap(([id, fields]) => {
      if (!this.sends(types, entryType(fields))) return [];
      const entry = decodeEntry(qualifyId(partitions, partition, id), fields);
      return entry === null ? [] : [entry];
    });
  }

  /** Up to `count` entries after the range's position, then a pause that keeps reads within READ_RATE. */
  private async read(range: ReplayRange, count: number): Promise<RawRange> {
    if (range.position !== null && compareIds(range.position, range.end) >= 0) return [];
    const raw = await rangeChunk(this.deps.redis, this.deps.keys.partitions[range.partition]!.stream, range, count);
    await this.wait((raw.length * 1000) / READ_RATE);
    return raw;
  }

  /** Entries of every range the replay will send; null when stopped before it was done. */
  private async count(): Promise<number | null> {
    const sub = await this.subscriber();
    const types = sub === null ? null : typesOf(sub);
    let total = 0;
    for (const range of this.progress.ranges) {
      const cursor = { ...range };
      for (;;) {
        if (types === null || this.stopped) return null;
        const raw = await this.read(cursor, COUNT_CHUNK);
        total += raw.filter(([, fields]) => this.sends(types, entryType(fields))).length;
        if (raw.length < COUNT_CHUNK) break;
        cursor.position = raw[raw.length - 1]![0];
      }
    }
    return total;
  }

  /** Sends one chunk and saves its position; true when the range is done (or the run stopped). */
  private async sendChunk(range: ReplayRange): Promise<boolean> {
    const sub = await this.subscriber();
    if (sub === null) return true;
    const size = Math.min(100, this.row.maxPerSecond);
    const raw = await this.read(range, size);
    if (raw.length === 0) return true;
    const open = new Set<Promise<void>>();
    for (const entry of this.wanted(sub, range.partition, raw)) {
      if (!(await this.pace())) break;
      while (open.size >= REPLAY_CONCURRENCY) await Promise.race(open);
      this.progress.sent++;
      const request = this.deliver(sub, entry).then((ok) => {
        if (ok) this.progress.delivered++;
        else this.progress.failed++;
        open.delete(request);
      });
      open.add(request);
    }
    await Promise.all(open);
    if (this.stopped) return true;
    range.position = raw[raw.length - 1]![0];
    if (!(await this.save())) this.halt("lost");
    return raw.length < size;
  }

  /** Waits for the next send slot of max_per_second; false when the run stopped meanwhile. */
  private async pace(): Promise<boolean> {
    const now = performance.now();
    const at = Math.max(now, this.nextSendAt);
    this.nextSendAt = at + this.intervalMs;
    if (at > now) await this.wait(at - now);
    return !this.stopped;
  }

  private async wait(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.stopper.signal }).catch(() => {});
  }

  /** One entry, with a few quick retries of transient failures; true when it was answered 2xx. */
  private async deliver(sub: SubscriberConfig, entry: DecodedEntry): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const result = await this.deps.client.send({
        url: sub.url,
        subscriber: sub.name,
        streamMessageId: entry.streamMessageId,
        eventId: entry.event.id ?? "",
        eventType: entry.event.type,
        body: entry.json,
        attempt,
        signingSecrets: sub.signingSecrets,
        // Subscribers cannot set x-brain-* headers (schemas/subscriber.ts), so this one is ours alone.
        headers: { ...sub.headers, "x-brain-replay": this.id },
        timeoutMs: sub.timeoutMs,
      });
      const retry = result.kind === "transient" && attempt <= RETRY_DELAYS_MS.length && !this.stopped;
      const outcome = result.kind === "success" ? "delivered" : retry ? "retry" : "failed";
      this.deps.metrics.replayRequests.inc({ subscriber: sub.name, outcome });
      if (result.kind === "success") return true;
      if (result.kind === "permanent" && result.reason === "gone") this.halt("gone");
      if (!retry) return false;
      const after = result.kind === "transient" ? result.retryAfterMs : null;
      await this.wait(Math.min(after ?? RETRY_DELAYS_MS[attempt - 1]!, RETRY_AFTER_CAP_MS));
    }
  }
}
