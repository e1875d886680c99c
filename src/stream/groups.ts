/**
 * Consumer groups: one per subscriber, named like it (keys.ts). Created at a start position,
 * destroyed with the subscriber, recreated after they vanished (NOGROUP), and read for their
 * live counters (XINFO GROUPS). Reading and acknowledging entries is pel.ts (waiting for them, watcher.ts).
 */
import type { RedisClient } from "./connections.js";
import { errors, withDetails } from "../errors.js";
import { compareIds } from "./ids.js";
import { groupName, type StreamKeys } from "./keys.js";
import { withScripts } from "./scripts.js";

const message = (err: unknown): string => String((err as Error | undefined)?.message ?? "");

/** True for the error Redis answers when the group (or the whole stream) is gone. */
export function isNoGroup(err: unknown): boolean {
  return message(err).startsWith("NOGROUP");
}

/** True for the error XGROUP CREATE answers when the group exists already. */
function isBusyGroup(err: unknown): boolean {
  return message(err).startsWith("BUSYGROUP");
}

/**
 * `latest` → `$` (only entries appended from now on), `earliest` → `0`, else the stream id itself,
 * which must be bare: it is a moment, applied to every partition (400 with a partition prefix).
 */
export function startId(startFrom: string): string {
  if (startFrom === "latest") return "$";
  if (startFrom === "earliest") return "0";
  if (startFrom.includes(":")) {
    throw withDetails(
      new errors.InvalidRequest("start_from takes a stream id without a partition: it applies to every partition"),
      [{ path: "/start_from", message: "use <ms>-<seq>" }],
    );
  }
  return startFrom;
}

/**
 * Creates the subscriber's group so delivery begins after `id` (the stream is created if needed).
 * A group already there can only be a leftover of an earlier subscriber of the same name, since
 * the caller holds the new row: it is replaced, so the new subscriber starts where it asked to
 * and inherits no stale pending entries.
 */
export async function createGroup(redis: RedisClient, stream: string, subscriber: string, id: string): Promise<void> {
  const group = groupName(subscriber);
  const r = withScripts(redis);
  try {
    await r.brainCreateGroup(stream, group, id);
  } catch (err) {
    if (!isBusyGroup(err)) throw err;
    await r.xgroup("DESTROY", stream, group);
    await r.brainCreateGroup(stream, group, id);
  }
}

/**
 * Recreates a vanished group so that reading resumes after `from`, the newest entry this
 * subscriber processed; when `keep` (an entry still waiting for a retry) is older, the group
 * starts just before it instead, and the entries between are skipped by the dedup check. A group
 * another process recreated first is kept as it is. Returns the start id.
 */
export async function recreateGroup(
  redis: RedisClient,
  stream: string,
  subscriber: string,
  from: string | null,
  keep: string | null,
): Promise<string> {
  let start = from ?? "0";
  if (keep !== null && compareIds(keep, start) <= 0) {
    const before = await redis.xrevrange(stream, `(${keep}`, "-", "COUNT", 1);
    start = before[0]?.[0] ?? "0";
  }
  try {
    await withScripts(redis).brainCreateGroup(stream, groupName(subscriber), start);
  } catch (err) {
    if (!isBusyGroup(err)) throw err;
  }
  return start;
}

/** Destroys the subscriber's group (its pending entries go with it); absent is fine. */
export async function destroyGroup(redis: RedisClient, stream: string, subscriber: string): Promise<void> {
  try {
    await redis.xgroup("DESTROY", stream, groupName(subscriber));
  } catch (err) {
    // The stream itself is gone (flushed): so is the group.
    if (!message(err).includes("no such key")) throw err;
  }
}

/** Live counters of one group. `lag` is null when Redis cannot tell (after an XDEL, docs/STACK-NOTES.md §1). */
export interface GroupInfo {
  pending: number;
  lag: number | null;
  lastDeliveredId: string;
}

/** Every group on the stream, from one XINFO GROUPS call; empty when the stream does not exist. */
export async function groupInfos(redis: RedisClient, stream: string): Promise<Map<string, GroupInfo>> {
  let reply: unknown[];
  try {
    reply = (await redis.xinfo("GROUPS", stream)) as unknown[];
  } catch (err) {
    if (message(err).includes("no such key")) return new Map();
    throw err;
  }
  const groups = new Map<string, GroupInfo>();
  for (const entry of reply) {
    const flat = entry as unknown[];
    const field = (name: string): unknown => {
      const i = flat.indexOf(name);
      return i >= 0 && i % 2 === 0 ? flat[i + 1] : undefined;
    };
    const lag = field("lag");
    groups.set(String(field("name")), {
      pending: Number(field("pending") ?? 0),
      lag: lag === null || lag === undefined ? null : Number(lag),
      lastDeliveredId: String(field("last-delivered-id")),
    });
  }
  return groups;
}

/** The oldest entry the group holds pending (read, not yet ACKed); null when none. */
export async function oldestPending(redis: RedisClient, stream: string, group: string): Promise<string | null> {
  const summary = (await redis.xpending(stream, group)) as [number, string | null, ...unknown[]];
  return summary[1] ?? null;
}

/**
 * Creates the subscriber's group on every partition, each starting after `id` (`$`, `0`, or a
 * stream id: ids are times, so one id means the same moment in every partition).
 */
export async function createGroups(
  redis: RedisClient,
  keys: StreamKeys,
  subscriber: string,
  id: string,
): Promise<void> {
  await Promise.all(keys.partitions.map((p) => createGroup(redis, p.stream, subscriber, id)));
}

/** Destroys the subscriber's group on every partition. */
export async function destroyGroups(redis: RedisClient, keys: StreamKeys, subscriber: string): Promise<void> {
  await Promise.all(keys.partitions.map((p) => destroyGroup(redis, p.stream, subscriber)));
}

/** A group's counters summed over the partitions, with each partition's own. */
export interface PartitionedGroupInfo extends GroupInfo {
  /** By partition index; a partition where the group is missing has none. */
  partitions: Map<number, GroupInfo>;
}

/**
 * Every group's counters over all partitions (one XINFO GROUPS per partition). `lag` is null when
 * any partition cannot tell it; `lastDeliveredId` is partition 0's.
 */
export async function partitionedGroupInfos(
  redis: RedisClient,
  keys: StreamKeys,
): Promise<Map<string, PartitionedGroupInfo>> {
  const infos = await Promise.all(keys.partitions.map((p) => groupInfos(redis, p.stream)));
  const merged = new Map<string, PartitionedGroupInfo>();
  infos.forEach((groups, index) => {
    for (const [name, g] of groups) {
      const sum = merged.get(name);
      if (sum === undefined) {
        merged.set(name, { ...g, partitions: new Map([[index, g]]) });
        continue;
      }
      sum.pending += g.pending;
      sum.lag = sum.lag === null || g.lag === null ? null : sum.lag + g.lag;
      sum.partitions.set(index, g);
    }
  });
  return merged;
}
