/**
 * Safe stream trimming. XTRIM ignores consumer groups on Redis < 8.2 (docs/STACK-NOTES.md §1), so the trimmer
 * computes what every group is done with and trims only below that:
 *
 * - floor of a group = its oldest pending id (read but not yet ACKed), or, with nothing pending,
 *   the id just after its last-delivered-id (a group that has not read yet, lag > 0, is held by
 *   that too). The stream floor is the minimum over all groups and `XTRIM MINID floor` removes
 *   only entries below it (exactly), and never one younger than BRAIN_STREAM_RETENTION (default
 *   1 h, so recent events stay browsable and replayable). With no group at all nothing is trimmed
 *   by floor: entries stay browsable (GET /v1/events) and readable by a subscriber created with
 *   `start_from: earliest`, up to the hard cap.
 * - hard cap BRAIN_STREAM_MAXLEN (0 = none): a stuck subscriber must not grow Redis without bound.
 *   The cap lives here, not in the publisher's XADD, so that nothing vanishes silently: before the
 *   oldest entries are cut, every entry a group has not even read yet (and wants, by event type)
 *   is recorded as a `trimmed` dead letter, payload included, so it can be redelivered. Entries
 *   a group holds pending come back to the dispatcher as XAUTOCLAIM `deletedIds` and become
 *   `trimmed` dead letters there. The cut runs in a script that aborts if any group read into
 *   the range meanwhile, so a recorded entry is never also handed over as unread.
 *
 * Between runs the stream may exceed the cap by what arrives in one interval. One process trims
 * at a time (a Redis lease). XTRIM is the only stream write outside the publisher.
 */
import type { FastifyBaseLogger } from "fastify";
import type { RedisClient } from "./connections.js";
import type { Db } from "../db/client.js";
import { recordTrimmed, type TrimmedEntry } from "../db/dead-letters.js";
import { eventTypesOf } from "../db/subscribers.js";
import { TypeMatcher } from "../schemas/type-patterns.js";
import type { Metrics } from "../metrics.js";
import { decodeEntry, rangeAfter, streamLength, type RawRange } from "./entries.js";
import { groupInfos, oldestPending, type GroupInfo } from "./groups.js";
import { compareIds, nextId, qualifyId } from "./ids.js";
import type { StreamKeys } from "./keys.js";
import type { Lease } from "./lease.js";
import { withScripts } from "./scripts.js";

/** Entries examined per cap step: bounds one XRANGE reply and one INSERT. */
const CAP_CHUNK = 1000;

export interface TrimResult {
  /** Entries every group was done with. */
  acked: number;
  /** Entries cut by the hard cap. */
  capped: number;
}

export interface TrimmerDeps {
  redis: RedisClient;
  db: Db;
  keys: StreamKeys;
  /** BRAIN_STREAM_MAXLEN over all partitions: each partition is capped at its share (rounded up). */
  maxLen: number;
  /** Entries younger than this are never trimmed by floor, only by the cap. */
  retentionMs: number;
  metrics: Metrics;
  log: FastifyBaseLogger;
  /** Held while trimming, so one process trims at a time. */
  lease: Lease;
}

export class Trimmer {
  /** Subscribers already warned about in this process: the warning is logged once each. */
  private readonly warned = new Set<string>();

  constructor(private readonly deps: TrimmerDeps) {
    withScripts(deps.redis);
  }

  /** Trims when this process holds (or now takes) the lease; null when another process does. */
  async tick(): Promise<TrimResult | null> {
    return (await this.deps.lease.hold()) ? this.run() : null;
  }

  /** Gives the lease up (on shutdown) so another process takes over without waiting for its TTL. */
  async release(): Promise<void> {
    await this.deps.lease.release();
  }

  /** One trimming pass: first what every group is done with, then down to the cap. */
  private async run(): Promise<TrimResult> {
    const total = { acked: 0, capped: 0 };
    const { partitions } = this.deps.keys;
    for (const part of partitions) {
      const r = await this.runPartition(part.stream, part.index, partitions.length);
      total.acked += r.acked;
      total.capped += r.capped;
    }
    return total;
  }

  /** One partition: first what every group is done with, then down to the partition's cap. */
  private async runPartition(stream: string, partition: number, partitions: number): Promise<TrimResult> {
    const { redis, metrics } = this.deps;
    const groups = await groupInfos(redis, stream);
    let acked = 0;
    if (groups.size > 0) {
      const floors = await Promise.all([...groups].map(([name, g]) => this.floorOf(stream, name, g)));
      const floor = floors.reduce((a, b) => (compareIds(a, b) <= 0 ? a : b), `${Date.now() - this.deps.retentionMs}-0`);
      // Exact rather than `~`: both leave every id >= floor alone, and exact keeps stream length
      // (and the cap below) precise for one cheap call per interval.
      acked = await redis.xtrim(stream, "MINID", floor);
      metrics.streamTrimmed.inc({ reason: "acked" }, acked);
    }
    const cap = Math.ceil(this.deps.maxLen / partitions);
    const capped = cap > 0 ? await this.enforceCap(stream, cap, (id) => qualifyId(partitions, partition, id)) : 0;
    return { acked, capped };
  }

  /** The oldest id the group still needs. */
  private async floorOf(stream: string, name: string, g: GroupInfo): Promise<string> {
    const oldest = g.pending > 0 ? await oldestPending(this.deps.redis, stream, name) : null;
    if (oldest !== null) return oldest;
    return nextId(g.lastDeliveredId);
  }

  /** Cuts the oldest entries until the stream is within the cap; stops early if a group moved. */
  private async enforceCap(stream: string, maxLen: number, qualify: (id: string) => string): Promise<number> {
    const { redis, metrics } = this.deps;
    let capped = 0;
    // Renewing the lease each step keeps a long catch-up (a lowered cap) to one process.
    while (await this.deps.lease.hold()) {
      const excess = (await streamLength(redis, stream)) - maxLen;
      if (excess <= 0) return capped;
      const entries = await rangeAfter(redis, stream, undefined, Math.min(excess, CAP_CHUNK));
      const lastCut = entries.at(-1)?.[0];
      if (lastCut === undefined) return capped;
      const behind = [...(await groupInfos(redis, stream))].filter(
        ([, g]) => compareIds(g.lastDeliveredId, lastCut) < 0,
      );
      await this.recordUnread(behind, entries, qualify);
      const removed = await redis.brainCapCut(
        stream,
        nextId(lastCut),
        lastCut,
        ...behind.flatMap(([name, g]) => [name, g.lastDeliveredId]),
      );
      if (removed < 0) return capped; // a group read meanwhile: its records stay valid, retry next run
      metrics.streamTrimmed.inc({ reason: "cap" }, removed);
      capped += removed;
    }
    return capped;
  }

  /** Records the entries each group behind the cut has not read yet as `trimmed` dead letters. */
  private async recordUnread(
    behind: [string, GroupInfo][],
    entries: RawRange,
    qualify: (id: string) => string,
  ): Promise<void> {
    if (behind.length === 0) return;
    const { db, log, metrics } = this.deps;
    const wanted = await eventTypesOf(
      db,
      behind.map(([name]) => name),
    );
    for (const [name, g] of behind) {
      const types = wanted.get(name);
      const unread = entries.filter(([id]) => compareIds(id, g.lastDeliveredId) > 0);
      if (!types) {
        this.warnOnce(name, () =>
          log.warn(
            { group: name, entries: unread.length },
            "stream cap reached: trimming entries unread by a consumer group that has no subscriber",
          ),
        );
        continue;
      }
      const wants = new TypeMatcher(types.map((t) => [t, true] as const));
      const letters = unread.flatMap(([id, fields]): TrimmedEntry[] => {
        const decoded = decodeEntry(qualify(id), fields);
        if (decoded && wants.match(decoded.event.type) === undefined) return [];
        return [{ id: qualify(id), eventId: decoded?.event.id ?? null, json: decoded?.json ?? null }];
      });
      if (letters.length === 0) continue;
      const recorded = await recordTrimmed(
        db,
        name,
        letters,
        "trimmed by the BRAIN_STREAM_MAXLEN cap before the subscriber read it",
      );
      if (recorded === 0) continue;
      metrics.deadLetters.inc({ subscriber: name, reason: "trimmed" }, recorded);
      this.warnOnce(name, () =>
        log.warn(
          { subscriber: name, dead_letters: recorded },
          "stream cap reached: subscriber fell behind BRAIN_STREAM_MAXLEN; entries it had not read become trimmed " +
            "dead letters",
        ),
      );
    }
  }

  private warnOnce(name: string, warn: () => void): void {
    if (this.warned.has(name)) return;
    this.warned.add(name);
    warn();
  }
}
