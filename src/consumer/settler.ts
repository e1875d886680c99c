/**
 * The Postgres half of the EventConsumer: the dedup check and the group commit that settles
 * finished entries (dedup rows and dead letters in one transaction, then one XACK).
 */
import { eq, sql } from "drizzle-orm";
import type { Redis } from "ioredis";
import type { Db } from "../plugins/db.js";
import { deadLetters, processedEvents } from "../db/schema.js";
import { isNoGroup } from "./consumer-redis.js";

export type DeadLetterReason = (typeof deadLetters.$inferInsert)["reason"];

/**
 * The ids among `ids` that this subscriber already processed (Charter C: one query per batch).
 * One fixed statement, prepared once per connection (a Drizzle `inArray` is a new statement for
 * every batch size). Its shape is chosen for the planner: one unique-key probe per id, whatever
 * the table statistics say. Written as `= any(…)` or as a join, the plan made while the table
 * was small (before autovacuum's first ANALYZE) scans all of the subscriber's rows on every call:
 * 9–350 ms at 40,000 rows instead of 0.3 ms. Stream ids hold no commas.
 */
export async function processedIds(db: Db, subscriber: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.$client<{ id: string }[]>`select hit.id from unnest(string_to_array(${ids.join(",")}, ',')) as t(id),
    lateral (select stream_message_id as id from processed_events where subscriber_name = ${subscriber} and stream_message_id = t.id limit 1) as hit`;
  return new Set(rows.map((r) => r.id));
}

/** The newest stream id this subscriber processed, in numeric id order; null if none. */
export async function newestProcessedId(db: Db, subscriber: string): Promise<string | null> {
  const rows = await db
    .select({ id: processedEvents.streamMessageId })
    .from(processedEvents)
    .where(eq(processedEvents.subscriberName, subscriber))
    .orderBy(sql`split_part(${processedEvents.streamMessageId}, '-', 1)::numeric desc, split_part(${processedEvents.streamMessageId}, '-', 2)::numeric desc`)
    .limit(1);
  return rows[0]?.id ?? null;
}

/** A finished entry: delivered, or dead-lettered with the details the dead letter keeps. */
export interface Settlement {
  id: string;
  eventId: string | null;
  deadLetter?: { reason: DeadLetterReason; statusCode: number | null; error: string | null; attempts: number; event: string | null };
}

interface Pending extends Settlement {
  done: () => void;
}

/** The Postgres error code behind a Drizzle-wrapped error (NOTES §4). */
function pgCode(err: unknown): string | undefined {
  return (err as { cause?: { code?: string }; code?: string }).cause?.code ?? (err as { code?: string }).code;
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
    private readonly redis: Redis,
    private readonly stream: string,
    private readonly subscriber: string,
    private readonly onError: (err: unknown) => void,
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
          if (batch.length > 0) await this.write(batch);
        } catch (err) {
          // The subscriber was deleted meanwhile (rows cascade away, the group is destroyed).
          if (pgCode(err) === "23503") {
            for (const p of batch) p.done();
            continue;
          }
          this.queue.unshift(...batch);
          throw err;
        }
        this.written.push(...batch);
        const acked = this.written.splice(0);
        try {
          await this.redis.xack(this.stream, this.subscriber, ...acked.map((p) => p.id));
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

  private async write(batch: Pending[]): Promise<void> {
    const rows = batch.map((p) => ({
      subscriberName: this.subscriber,
      streamMessageId: p.id,
      eventId: p.eventId,
      outcome: p.deadLetter ? ("dead_lettered" as const) : ("delivered" as const),
    }));
    const letters = batch.flatMap((p) =>
      p.deadLetter
        ? [{ subscriberName: this.subscriber, streamMessageId: p.id, eventId: p.eventId, reason: p.deadLetter.reason, lastStatusCode: p.deadLetter.statusCode, lastError: p.deadLetter.error, attempts: p.deadLetter.attempts, event: p.deadLetter.event }]
        : [],
    );
    if (letters.length === 0) {
      // The hot path (every successful delivery): one fixed statement over a JSON parameter,
      // prepared once per connection, instead of a query built and parsed anew for each batch size.
      const json = JSON.stringify(batch.map((p) => ({ id: p.id, event_id: p.eventId })));
      await this.db.$client`insert into processed_events (subscriber_name, stream_message_id, event_id, outcome)
        select ${this.subscriber}, id, event_id, 'delivered' from json_to_recordset(${json}::json) as t(id varchar, event_id varchar)
        on conflict do nothing`;
      return;
    }
    await this.db.transaction(async (tx) => {
      await tx.insert(processedEvents).values(rows).onConflictDoNothing();
      await tx.insert(deadLetters).values(letters).onConflictDoNothing();
    });
  }
}
