/**
 * Consumer-group administration for subscribers: create at a start position, destroy, and read
 * the live counters of XINFO GROUPS. Reading and acknowledging entries is the consumer's job.
 */
import type { Redis } from "ioredis";
import { groupName } from "./keys.js";

/** `latest` → `$` (only entries appended from now on), `earliest` → `0`, else the stream id itself. */
export function startId(startFrom: string): string {
  if (startFrom === "latest") return "$";
  if (startFrom === "earliest") return "0";
  return startFrom;
}

/**
 * XGROUP CREATE with ENTRIESREAD set to the stream's entries-added when starting at `$`, read in
 * the same script so no XADD slips between: Redis cannot always estimate a new group's lag on
 * its own (XINFO GROUPS shows null), and a fresh subscriber should show `lag: 0`, not "unknown".
 */
const CREATE_LUA = `
if ARGV[2] ~= '$' then return redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM') end
local added = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do if info[i] == 'entries-added' then added = info[i + 1] end end
end
return redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM', 'ENTRIESREAD', added)`;

/**
 * Creates the subscriber's group so delivery begins after `id` (MKSTREAM: the stream may not
 * exist yet). A group already there (BUSYGROUP) can only be a leftover of an earlier subscriber
 * of the same name, since the caller holds the new row: it is replaced, so the new subscriber
 * starts where it asked to and inherits no stale pending entries.
 */
export async function createGroup(redis: Redis, stream: string, subscriber: string, id: string): Promise<void> {
  const group = groupName(subscriber);
  try {
    await redis.eval(CREATE_LUA, 1, stream, group, id);
  } catch (err) {
    if (!(err as Error).message.includes("BUSYGROUP")) throw err;
    await redis.xgroup("DESTROY", stream, group);
    await redis.eval(CREATE_LUA, 1, stream, group, id);
  }
}

/** Destroys the subscriber's group (its pending entries go with it); absent is fine. */
export async function destroyGroup(redis: Redis, stream: string, subscriber: string): Promise<void> {
  try {
    await redis.xgroup("DESTROY", stream, groupName(subscriber));
  } catch (err) {
    // The stream itself is gone (flushed): so is the group.
    if (!(err as Error).message.includes("no such key")) throw err;
  }
}

/** Live counters of one group. `lag` is null when Redis cannot tell (after an XDEL, NOTES §1). */
export interface GroupInfo {
  pending: number;
  lag: number | null;
  lastDeliveredId: string;
}

/** Every group on the stream, from one XINFO GROUPS call; empty when the stream does not exist. */
export async function groupInfos(redis: Redis, stream: string): Promise<Map<string, GroupInfo>> {
  let reply: unknown[];
  try {
    reply = (await redis.xinfo("GROUPS", stream)) as unknown[];
  } catch (err) {
    if ((err as Error).message.includes("no such key")) return new Map();
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
