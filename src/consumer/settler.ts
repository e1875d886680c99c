/**
 * The settler of one EventConsumer: group commit of finished entries (dedup rows and dead
 * letters in one transaction, then one XACK).
 */
import type { RedisClient } from "../stream/connections.js";
import { isMissingSubscriber, type Db } from "../db/client.js";
import { recordOutcomes, type Outcome } from "../db/processed-events.js";
import { isNoGroup } from "../stream/groups.js";
import { ack } from "../stream/pel.js";

/** A finished entry: delivered, or dead-lettered with what the dead letter keeps. */
export type Settlement = Outcome;

interface Pending extends Settlement {
  done: () => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

/** Group commit: write at once when this many entries are waiting, else after LINGER_MS. */
const COMMIT_ROWS = 100;
const LINGER_MS = 10;

/**
 * Group commit: settlements queue up for up to LINGER_MS (and while a flush runs), and the next
 * flush writes them all in one transaction (dedup rows ON CONFLICT DO NOTHING, dead letters) and
 * ACKs them in one XACK.
 * Rows go first: an XACK without its dedup row could let a replay deliver twice. While Postgres
 * or Redis is down the flush backs off and retries; the entries stay pending (and leased by the
 * consumer's heartbeat) meanwhile.
 */
export class Settler {
  private queue: Pending[] = [];
  private written: Pending[] = [];
  private running: Promise<void> | null = null;
  private abandoned = false;
  private closing = false;

  constructor(
    private readonly db: Db,
    private readonly redis: RedisClient,
    private readonly stream: string,
    private readonly subscriber: string,
    private readonly group: string,
    private readonly onError: (err: unknown) => void,
    /** The entry's id in the partition's stream, from the qualified id settlements carry. */
    private readonly entryId: (id: string) => string = (id) => id,
  ) {}

  /** Resolves once the entry is recorded and ACKed (or the settler was abandoned at shutdown). */
  settle(s: Settlement): Promise<void> {
    return new Promise((done) => {
      this.queue.push({ ...s, done });
      this.kick();
    });
  }

  private kick(): void {
    this.running ??= this.drain().finally(() => {
      this.running = null;
      // A settlement queued between the last check and now must not wait for the next one.
      if (!this.abandoned && this.queue.length + this.written.length > 0) this.kick();
    });
  }

  /** Waits for queued settlements, at most until `deadline`; then gives up (they stay pending). */
  async close(deadline: number): Promise<void> {
    this.closing = true;
    const timeout = sleep(Math.max(0, deadline - Date.now()));
    await Promise.race([this.running, timeout]);
    this.abandoned = true;
    for (const p of [...this.queue.splice(0), ...this.written.splice(0)]) p.done();
  }

  private async drain(): Promise<void> {
    let backoff = 100;
    while (!this.abandoned && (this.queue.length > 0 || this.written.length > 0)) {
      // Settled entries are already delivered, so a short wait costs no delivery latency, while
      // a commit and an XACK for every few rows cost CPU here and in Postgres (bench/RESULTS.md).
      if (this.queue.length < COMMIT_ROWS && !this.closing) await sleep(LINGER_MS);
      try {
        const batch = this.queue.splice(0);
        try {
          if (batch.length > 0) await recordOutcomes(this.db, this.subscriber, batch);
        } catch (err) {
          // The subscriber was deleted meanwhile (rows cascade away, the group is destroyed).
          if (isMissingSubscriber(err)) {
            for (const p of batch) p.done();
            continue;
          }
          this.queue.unshift(...batch);
          throw err;
        }
        this.written.push(...batch);
        const acked = this.written.splice(0);
        try {
          await ack(
            this.redis,
            this.stream,
            this.group,
            acked.map((p) => this.entryId(p.id)),
          );
        } catch (err) {
          // A vanished group has nothing to ACK; its recreation re-reads and dedups these.
          if (!isNoGroup(err)) {
            this.written.unshift(...acked);
            throw err;
          }
        }
        for (const p of acked) p.done();
        backoff = 100;
      } catch (err) {
        this.onError(err);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }
}
