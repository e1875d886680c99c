/**
 * A group's pending entries list (PEL), the only retry queue: claims (the lease heartbeat, retries,
 * takeover of dead consumers' entries), ACKs, the clean-up of exited consumers, and the read of new
 * entries that puts them there. Waiting for new entries is watcher.ts; the state machine these
 * serve is consumer/event-consumer.ts.
 */
import type { RedisClient } from "./connections.js";
import { withScripts } from "./scripts.js";

/** A raw stream entry; `fields` is null when the entry was trimmed away while pending. */
export interface RawEntry {
  id: string;
  fields: string[] | null;
  /** The group's delivery count for this entry: the 1-based attempt number. */
  attempt: number;
}

export interface OwnClaimResult {
  /** Still ours: with fetched fields in `fetch` mode (null if trimmed). */
  owned: RawEntry[];
  /** Taken by another consumer (or no longer pending): forget them. */
  lost: string[];
}

/**
 * Up to `count` entries never delivered to the group (`>`, attempt 1), without blocking: it runs
 * on the shared command connection, and watcher.ts says when to read again. Rejects with NOGROUP
 * when the group is gone (groups.ts `isNoGroup`).
 */
export async function readNew(
  redis: RedisClient,
  stream: string,
  group: string,
  consumer: string,
  count: number,
): Promise<RawEntry[]> {
  const reply = await redis.xreadgroup("GROUP", group, consumer, "COUNT", count, "STREAMS", stream, ">");
  const entries = ((reply as [string, [string, string[]][]][] | null)?.[0]?.[1] ?? []) as [string, string[]][];
  return entries.map(([id, fields]) => ({ id, fields, attempt: 1 }));
}

/** The event types a consumer handles: exact ones and prefixes (`mission.` for `mission.*`). */
export interface TypeFilter {
  exact: string[];
  prefixes: string[];
}

/**
 * Like readNew, but entries of a type outside `filter` are ACKed inside Redis instead of being
 * returned (script brainReadWanted). `read` counts them too: a full batch means read again.
 */
export async function readWanted(
  redis: RedisClient,
  stream: string,
  group: string,
  consumer: string,
  count: number,
  filter: TypeFilter,
): Promise<{ read: number; entries: RawEntry[] }> {
  const [read, kept] = await withScripts(redis).brainReadWanted(
    stream,
    group,
    consumer,
    count,
    filter.exact.length,
    ...filter.exact,
    ...filter.prefixes,
  );
  return { read, entries: kept.map(([id, fields]) => ({ id, fields, attempt: 1 })) };
}

/** Ids per brainOwnClaim call: bounds one script's run time and reply. */
const CLAIM_CHUNK = 500;

/**
 * Heartbeats (`justid`: resets idle time, counts no delivery) or re-fetches for a retry (`fetch`:
 * counts a delivery) the entries this consumer owns (script brainOwnClaim).
 */
export async function ownClaim(
  redis: RedisClient,
  stream: string,
  group: string,
  consumer: string,
  mode: "justid" | "fetch",
  ids: string[],
): Promise<OwnClaimResult> {
  const r = withScripts(redis);
  const result: OwnClaimResult = { owned: [], lost: [] };
  for (let i = 0; i < ids.length; i += CLAIM_CHUNK) {
    const reply = await r.brainOwnClaim(stream, group, consumer, mode, ...ids.slice(i, i + CLAIM_CHUNK));
    for (const [id, count, fields] of reply) {
      if (count < 0) result.lost.push(id);
      else result.owned.push({ id, attempt: Number(count), fields: fields.length > 0 ? fields : null });
    }
  }
  return result;
}

/**
 * XAUTOCLAIM: takes over entries idle for `minIdleMs` (their consumer died) and reports those
 * trimmed while pending (Redis already dropped them from the PEL). Attempt numbers come from
 * XPENDING, so they keep counting across crashes.
 */
export async function autoClaim(
  redis: RedisClient,
  stream: string,
  group: string,
  consumer: string,
  minIdleMs: number,
  count: number,
): Promise<{ entries: RawEntry[]; deletedIds: string[] }> {
  const entries: RawEntry[] = [];
  const deletedIds: string[] = [];
  let cursor = "0-0";
  // One call scans at most COUNT×10 PEL entries; a few rounds cover a large PEL.
  for (let round = 0; round < 10 && entries.length < count; round++) {
    const reply = await redis.xautoclaim(stream, group, consumer, minIdleMs, cursor, "COUNT", count - entries.length);
    const [next, claimed, deleted] = reply as [string, [string, string[] | null][], string[]];
    for (const [id, fields] of claimed) entries.push({ id, fields, attempt: 1 });
    deletedIds.push(...(deleted ?? []));
    cursor = next;
    if (cursor === "0-0") break;
  }
  if (entries.length > 0) {
    const pipe = redis.pipeline();
    for (const e of entries) pipe.xpending(stream, group, e.id, e.id, 1);
    const counts = (await pipe.exec()) ?? [];
    entries.forEach((e, i) => {
      const row = (counts[i]?.[1] as [string, string, number, number][] | undefined)?.[0];
      if (row) e.attempt = Number(row[3]);
    });
  }
  return { entries, deletedIds };
}

/** Acknowledges entries: they leave the group's PEL for good. */
export async function ack(redis: RedisClient, stream: string, group: string, ids: string[]): Promise<void> {
  if (ids.length > 0) await redis.xack(stream, group, ...ids);
}

/**
 * Deletes consumers of exited processes (script brainDeleteIdleConsumers): those other than
 * `self` with nothing pending and idle for `idleMs`. A live consumer that happened to qualify
 * loses nothing (it owns no entry) and is recreated by its next read.
 */
export async function deleteDeadConsumers(
  redis: RedisClient,
  stream: string,
  group: string,
  self: string,
  idleMs: number,
): Promise<number> {
  return withScripts(redis).brainDeleteIdleConsumers(stream, group, self, idleMs);
}

/** How many entries the group holds pending, whoever owns them (XPENDING summary). */
export async function pendingCount(redis: RedisClient, stream: string, group: string): Promise<number> {
  const [count] = (await redis.xpending(stream, group)) as [number, ...unknown[]];
  return Number(count);
}
