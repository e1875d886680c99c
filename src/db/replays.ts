/**
 * `replays`: operator re-sends of a stream range to one subscriber (delivery/replay.ts runs them).
 * A runner holds a replay through `lease_owner`/`lease_until`: it claims one with
 * `FOR UPDATE SKIP LOCKED` (two processes never take the same row), renews the lease while it
 * works, and every write it makes is fenced by its owner id, so a runner that lost its lease
 * (paused by GC, partitioned away) cannot overwrite the progress of the one that took over.
 */
import { and, desc, eq, inArray, isNull, lt, notInArray, or, sql } from "drizzle-orm";
import type { Executor } from "./client.js";
import { replays, subscribers, type ReplayRange } from "./schema.js";

export type { ReplayRange };
export type ReplayRow = typeof replays.$inferSelect;
export type NewReplayRow = typeof replays.$inferInsert;

const ACTIVE = ["pending", "running"] as const;

export async function insertReplay(db: Executor, row: NewReplayRow): Promise<ReplayRow> {
  const [created] = await db.insert(replays).values(row).returning();
  return created!;
}

/** Replays of the subscriber still pending or running. */
export async function countActiveReplays(db: Executor, name: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(replays)
    .where(and(eq(replays.subscriberName, name), inArray(replays.state, ACTIVE)));
  return row?.n ?? 0;
}

export async function getReplay(db: Executor, name: string, id: string): Promise<ReplayRow | null> {
  const [row] = await db
    .select()
    .from(replays)
    .where(and(eq(replays.subscriberName, name), eq(replays.id, id)));
  return row ?? null;
}

/** The subscriber's newest `limit` replays, newest first. */
export async function listReplays(db: Executor, name: string, limit: number): Promise<ReplayRow[]> {
  return db
    .select()
    .from(replays)
    .where(eq(replays.subscriberName, name))
    .orderBy(desc(replays.createdAt), desc(replays.id))
    .limit(limit);
}

/**
 * Cancels a pending or running replay; a finished one stays as it was. Returns the row as it is
 * now. The lease stays with its holder, which notices at its next renewal, saves the counts of
 * what it sent and lets go.
 */
export async function cancelReplay(db: Executor, name: string, id: string): Promise<ReplayRow | null> {
  await db
    .update(replays)
    .set({ state: "cancelled", finishedAt: sql`now()` })
    .where(and(eq(replays.subscriberName, name), eq(replays.id, id), inArray(replays.state, ACTIVE)));
  return getReplay(db, name, id);
}

/**
 * Takes the oldest unfinished replay of an enabled subscriber that no process holds (or whose
 * holder let its lease lapse), except those in `exclude`; marks it running under `owner`.
 */
export async function claimReplay(
  db: Executor,
  owner: string,
  leaseMs: number,
  exclude: string[],
): Promise<ReplayRow | null> {
  const free = and(
    inArray(replays.state, ACTIVE),
    eq(subscribers.enabled, true),
    or(isNull(replays.leaseUntil), lt(replays.leaseUntil, sql`now()`)),
    exclude.length > 0 ? notInArray(replays.id, exclude) : undefined,
  );
  const candidate = db
    .select({ id: replays.id })
    .from(replays)
    .innerJoin(subscribers, eq(subscribers.name, replays.subscriberName))
    .where(free)
    .orderBy(replays.createdAt)
    .limit(1)
    .for("update", { of: replays, skipLocked: true });
  const [row] = await db
    .update(replays)
    .set({
      state: "running",
      leaseOwner: owner,
      leaseUntil: sql`now() + ${leaseMs} * interval '1 millisecond'`,
      startedAt: sql`coalesce(${replays.startedAt}, now())`,
    })
    .where(inArray(replays.id, candidate))
    .returning();
  return row ?? null;
}

/** What the holder learns when it renews: whether to go on. */
export interface ReplayLease {
  state: ReplayRow["state"];
  enabled: boolean;
}

/** Extends the lease; null when `owner` no longer holds it (taken over, cancelled, or the subscriber deleted). */
export async function renewReplay(
  db: Executor,
  id: string,
  owner: string,
  leaseMs: number,
): Promise<ReplayLease | null> {
  const [row] = await db
    .update(replays)
    .set({ leaseUntil: sql`now() + ${leaseMs} * interval '1 millisecond'` })
    .where(and(eq(replays.id, id), eq(replays.leaseOwner, owner)))
    .returning({
      state: replays.state,
      enabled: sql<boolean>`(select s.enabled from ${subscribers} s where s.name = ${replays.subscriberName})`,
    });
  return row ?? null;
}

export interface ReplayProgress {
  ranges: ReplayRange[];
  total: number | null;
  sent: number;
  delivered: number;
  failed: number;
}

/** Saves positions and counts together; false when `owner` no longer holds the replay. */
export async function saveProgress(db: Executor, id: string, owner: string, p: ReplayProgress): Promise<boolean> {
  const rows = await db
    .update(replays)
    .set({ ranges: p.ranges, total: p.total, sent: p.sent, delivered: p.delivered, failed: p.failed })
    .where(and(eq(replays.id, id), eq(replays.leaseOwner, owner)))
    .returning({ id: replays.id });
  return rows.length === 1;
}

/** Ends a running replay held by `owner` as completed or failed (a cancel that came first stands). */
export async function finishReplay(
  db: Executor,
  id: string,
  owner: string,
  state: "completed" | "failed",
  error: string | null = null,
): Promise<void> {
  await db
    .update(replays)
    .set({ state, error, finishedAt: sql`now()`, leaseOwner: null, leaseUntil: null })
    .where(and(eq(replays.id, id), eq(replays.leaseOwner, owner), eq(replays.state, "running")));
}

/** Gives a replay up unfinished (shutdown, a disabled subscriber) so any process may take it at once. */
export async function releaseReplay(db: Executor, id: string, owner: string): Promise<void> {
  await db
    .update(replays)
    .set({ leaseOwner: null, leaseUntil: null })
    .where(and(eq(replays.id, id), eq(replays.leaseOwner, owner)));
}
