/**
 * `dead_letters`: entries that failed permanently, with the stored envelope so an operator can
 * redeliver them. Rows are written with their dedup row (processed-events.ts), never alone.
 */
import { and, desc, eq, inArray, isNotNull, isNull, sql, type SQL } from "drizzle-orm";
import type { Db, Executor } from "./client.js";
import { countOutcomes } from "./processed-events.js";
import { deadLetters, deliveryAttempts, processedEvents } from "./schema.js";

export type DeadLetterRow = typeof deadLetters.$inferSelect;

export interface DeadLetterQuery {
  limit: number;
  unresolvedOnly: boolean;
  /** The id of the last row of the previous page: rows after it (older) only. */
  after?: number;
  /** Stored envelopes and errors a page holds at most (it always holds one row). */
  maxBytes: number;
}

/**
 * A page of a subscriber's dead letters, newest first, bounded in rows and bytes, and whether
 * more follow. The sizes are read first, so rows beyond the byte budget are never fetched.
 */
export async function deadLetterPage(db: Executor, name: string, q: DeadLetterQuery) {
  const where: SQL[] = [eq(deadLetters.subscriberName, name)];
  if (q.unresolvedOnly) where.push(isNull(deadLetters.resolvedAt));
  if (q.after !== undefined) {
    // Keyset on the sort order; a vanished cursor row (its subscriber was deleted) ends the listing.
    const cursorRow = sql`(select d.failed_at, d.id from ${deadLetters} d where d.id = ${q.after})`;
    where.push(sql`(${deadLetters.failedAt}, ${deadLetters.id}) < ${cursorRow}`);
  }
  const order = [desc(deadLetters.failedAt), desc(deadLetters.id)];
  const sizes = await db
    .select({
      id: deadLetters.id,
      bytes: sql`coalesce(octet_length(${deadLetters.event}), 0) + coalesce(octet_length(${deadLetters.lastError}), 0)`,
    })
    .from(deadLetters)
    .where(and(...where))
    .orderBy(...order)
    .limit(q.limit + 1);
  const ids: number[] = [];
  let total = 0;
  for (const { id, bytes } of sizes.slice(0, q.limit)) {
    if (ids.length > 0 && total + Number(bytes) > q.maxBytes) break;
    ids.push(id);
    total += Number(bytes);
  }
  const rows =
    ids.length === 0
      ? []
      : await db
          .select()
          .from(deadLetters)
          .where(inArray(deadLetters.id, ids))
          .orderBy(...order);
  return { rows, more: ids.length < sizes.length };
}

/** One subscriber's dead letter for a stream entry, or null. */
export async function findDeadLetter(
  db: Executor,
  name: string,
  streamMessageId: string,
): Promise<DeadLetterRow | null> {
  const [row] = await db
    .select()
    .from(deadLetters)
    .where(and(eq(deadLetters.subscriberName, name), eq(deadLetters.streamMessageId, streamMessageId)));
  return row ?? null;
}

/** What one redelivery attempt of a dead letter brought. */
export interface Redelivery {
  attempt: number;
  delivered: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  /** The event's type, for the delivery log. */
  eventType?: string | null;
}

/**
 * Records a redelivery in one transaction: the attempt in the delivery log (webhooks only: the
 * log holds HTTP attempts) and, on success, the
 * dedup row's outcome `delivered` and the dead letter resolved; on failure the dead letter keeps
 * the new status and error.
 */
export async function recordRedelivery(db: Db, letter: DeadLetterRow, r: Redelivery, logAttempt = true): Promise<void> {
  const { subscriberName, streamMessageId, eventId } = letter;
  await db.transaction(async (tx) => {
    if (logAttempt)
      await tx.insert(deliveryAttempts).values({
        subscriberName,
        streamMessageId,
        eventId,
        eventType: r.eventType ?? null,
        attempt: r.attempt,
        statusCode: r.statusCode,
        error: r.error,
        durationMs: r.durationMs,
        outcome: r.delivered ? "delivered" : "dead_lettered",
      });
    // The row lock makes a concurrent redelivery of the same letter wait: only one resolves it.
    const resolves = r.delivered && (await lockUnresolved(tx, letter.id));
    if (r.delivered) {
      await tx
        .insert(processedEvents)
        .values({ subscriberName, streamMessageId, eventId, outcome: "delivered" })
        .onConflictDoUpdate({
          target: [processedEvents.subscriberName, processedEvents.streamMessageId],
          set: { outcome: "delivered", processedAt: sql`now()` },
        });
    }
    await tx
      .update(deadLetters)
      .set(
        r.delivered
          ? { attempts: r.attempt, resolvedAt: sql`now()` }
          : { attempts: r.attempt, lastStatusCode: r.statusCode, lastError: r.error },
      )
      .where(eq(deadLetters.id, letter.id));
    // Resolving a dead letter moves its entry from dead_lettered to delivered in the lifetime counters.
    if (resolves) await countOutcomes(tx, subscriberName, 1, -1);
  });
}

/** Locks a dead letter for the transaction; true when it is not resolved yet. */
async function lockUnresolved(tx: Executor, id: number): Promise<boolean> {
  const [row] = await tx
    .select({ resolvedAt: deadLetters.resolvedAt })
    .from(deadLetters)
    .where(eq(deadLetters.id, id))
    .for("update");
  return row !== undefined && row.resolvedAt === null;
}

/** Asks the internal consumer running `letter`'s subscriber to redeliver it (redeliverRequestedAt in schema.ts). */
export async function requestRedelivery(db: Executor, letter: DeadLetterRow): Promise<void> {
  await db
    .update(deadLetters)
    .set({ redeliverRequestedAt: sql`now()` })
    .where(eq(deadLetters.id, letter.id));
}

/**
 * Takes up to `limit` open redeliver requests of one subscriber, clearing them in the same
 * statement: of several processes polling, each request goes to exactly one. A process that dies
 * before recording the result loses the request; the dead letter stays open to be asked again.
 */
export async function takeRedeliveryRequests(db: Db, subscriber: string, limit: number): Promise<DeadLetterRow[]> {
  const requested = db
    .select({ id: deadLetters.id })
    .from(deadLetters)
    .where(and(eq(deadLetters.subscriberName, subscriber), isNotNull(deadLetters.redeliverRequestedAt)))
    .limit(limit)
    .for("update", { skipLocked: true });
  return db
    .update(deadLetters)
    .set({ redeliverRequestedAt: null })
    .where(inArray(deadLetters.id, requested))
    .returning();
}

/** An entry the stream cap cuts before the subscriber read it. */
export interface TrimmedEntry {
  id: string;
  eventId: string | null;
  /** The envelope JSON as stored; null when the entry held no parseable event. */
  json: string | null;
}

/**
 * Records entries cut by the stream cap as `trimmed` dead letters, each with its dedup row, in
 * one transaction. The dedup row goes first: an entry the dispatcher settled meanwhile keeps its
 * outcome and gets no dead letter. Returns how many dead letters were recorded.
 */
export async function recordTrimmed(db: Db, subscriber: string, entries: TrimmedEntry[], why: string): Promise<number> {
  const recorded = await db.transaction(async (tx) => {
    const fresh = await tx
      .insert(processedEvents)
      .values(
        entries.map((e) => ({
          subscriberName: subscriber,
          streamMessageId: e.id,
          eventId: e.eventId,
          outcome: "dead_lettered" as const,
        })),
      )
      .onConflictDoNothing()
      .returning({ id: processedEvents.streamMessageId });
    const ids = new Set(fresh.map((f) => f.id));
    const values = entries
      .filter((e) => ids.has(e.id))
      .map((e) => ({
        subscriberName: subscriber,
        streamMessageId: e.id,
        eventId: e.eventId,
        reason: "trimmed" as const,
        lastError: why,
        attempts: 0,
        event: e.json,
      }));
    const letters =
      values.length === 0
        ? []
        : await tx.insert(deadLetters).values(values).onConflictDoNothing().returning({ id: deadLetters.id });
    await countOutcomes(tx, subscriber, 0, fresh.length);
    return letters;
  });
  return recorded.length;
}

/**
 * Deletes up to `limit` dead letters last touched (failed, or resolved) before `cutoff`; returns
 * how many. A letter with a redeliver request still open is kept whatever its age: an internal
 * consumer has yet to take it (takeRedeliveryRequests).
 */
export async function pruneDeadLetters(db: Executor, cutoff: Date, limit: number): Promise<number> {
  const old = db
    .select({ id: deadLetters.id })
    .from(deadLetters)
    .where(
      and(
        isNull(deadLetters.redeliverRequestedAt),
        sql`coalesce(${deadLetters.resolvedAt}, ${deadLetters.failedAt}) < ${cutoff.toISOString()}::timestamptz`,
      ),
    )
    .limit(limit);
  const gone = await db.delete(deadLetters).where(inArray(deadLetters.id, old)).returning({ id: deadLetters.id });
  return gone.length;
}
