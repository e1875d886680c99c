/**
 * Ledger retention: deletes `processed_events` rows once they can no longer matter, and dead
 * letters after their own retention period.
 *
 * A dedup row guards one stream entry against a second delivery, so it is needed exactly while
 * that entry can still be read or reclaimed: while it is in its partition's stream. A row is
 * deleted only when both
 * - its id is below the first entry its partition still holds (in numeric id order, per partition
 *   prefix); an empty stream holds nothing up to its last-generated-id. Both come from one
 *   XINFO STREAM, so no entry appended meanwhile can slip under the bound; and
 * - it was written more than BRAIN_LEDGER_MIN_AGE_HOURS ago: a margin for a Redis failover to a
 *   replica that had not seen the trim yet, or a restore of an older snapshot, which bring
 *   trimmed entries back.
 * Rows go in batches by primary key with a pause between them, so no statement holds many row
 * locks or competes long with the ledger inserts of delivery. The subscriber counters
 * (subscriber_stats) are lifetime totals and do not change.
 *
 * Dead letters are an operator's to-do list: kept forever unless BRAIN_DEAD_LETTER_RETENTION_HOURS
 * is set, and never while a redeliver request is open. The delivery log has its own prune
 * (delivery/attempt-log.ts). One process works at a time (a Redis lease, like the trimmer).
 */
import type { Db } from "../db/client.js";
import { pruneDeadLetters } from "../db/dead-letters.js";
import { deleteLedgerRowsBelow } from "../db/processed-events.js";
import type { Metrics } from "../metrics.js";
import type { RedisClient } from "./connections.js";
import { streamBounds } from "./entries.js";
import { compareIds, nextId, qualifyId } from "./ids.js";
import type { StreamKeys } from "./keys.js";
import type { Lease } from "./lease.js";

export interface RetentionResult {
  ledger: number;
  deadLetters: number;
}

export interface LedgerRetentionDeps {
  redis: RedisClient;
  db: Db;
  keys: StreamKeys;
  /** A ledger row is at least this old before it goes. */
  minAgeMs: number;
  /** Dead letters older than this go; 0 keeps them forever. */
  deadLetterRetentionMs: number;
  metrics: Metrics;
  lease: Lease;
  /** Rows per DELETE. */
  batch?: number;
  /** Between two batches. */
  pauseMs?: number;
  /** The clock the ages are measured by (tests run a pass "days later"). */
  now?: () => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/**
 * The smallest id the stream may still hold (exclusive bound for deletable ids): its first entry,
 * or just after its last-generated-id when it is empty (`0-1` for a stream that does not exist:
 * nothing is deleted).
 */
export async function firstKeptId(redis: RedisClient, stream: string): Promise<string> {
  const { firstKept, lastId } = await streamBounds(redis, stream);
  return firstKept ?? nextId(lastId);
}

export class LedgerRetention {
  private readonly batch: number;
  private readonly pauseMs: number;

  constructor(private readonly deps: LedgerRetentionDeps) {
    this.batch = deps.batch ?? 5000;
    this.pauseMs = deps.pauseMs ?? 50;
  }

  /** Runs a pass when this process holds (or now takes) the lease; null when another process does. */
  async tick(): Promise<RetentionResult | null> {
    return (await this.deps.lease.hold()) ? this.run() : null;
  }

  /** Gives the lease up (on shutdown) so another process takes over without waiting for its TTL. */
  async release(): Promise<void> {
    await this.deps.lease.release();
  }

  private async run(): Promise<RetentionResult> {
    const { keys, redis, db, minAgeMs, deadLetterRetentionMs } = this.deps;
    const now = (this.deps.now ?? Date.now)();
    const cutoff = new Date(now - minAgeMs);
    // Entries are stamped before they are processed, so an entry younger than the cutoff has no
    // row older than it: the bound keeps each scan away from the rows the age test would keep.
    const youngest = `${cutoff.getTime()}-0`;
    let ledger = 0;
    for (const part of keys.partitions) {
      const kept = await firstKeptId(redis, part.stream);
      const below = compareIds(kept, youngest) < 0 ? kept : youngest;
      const prefix = qualifyId(keys.partitions.length, part.index, "");
      ledger += await this.inBatches("processed_events", (n) => deleteLedgerRowsBelow(db, prefix, below, cutoff, n));
    }
    const deadLetters =
      deadLetterRetentionMs === 0
        ? 0
        : await this.inBatches("dead_letters", (n) => pruneDeadLetters(db, new Date(now - deadLetterRetentionMs), n));
    return { ledger, deadLetters };
  }

  /** Deletes batch after batch until one comes back short or the lease is lost; returns the total. */
  private async inBatches(table: string, remove: (limit: number) => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await remove(this.batch);
      total += n;
      this.deps.metrics.retentionDeleted.inc({ table }, n);
      // Renewing the lease each batch keeps a long catch-up (a fresh upgrade) to one process.
      if (n < this.batch || !(await this.deps.lease.hold())) return total;
      await sleep(this.pauseMs);
    }
  }
}
