/**
 * The Redis half of the EventConsumer: the commands it runs on its consumer group besides the
 * blocking read (see consumer.ts for the state machine these serve).
 */
import type { Redis, Result } from "ioredis";
import { compareIds } from "./stream-ids.js";

/**
 * Claims ids for their current owner only. `justid` mode is the lease heartbeat: XCLAIM … JUSTID
 * resets the idle time without counting a delivery, so XAUTOCLAIM elsewhere leaves entries alone
 * that this process is merely waiting to retry. `fetch` mode is a retry: a plain XCLAIM counts a
 * delivery (the attempt number) and returns the entry's fields. An id owned by someone else (it
 * was reclaimed while this process stalled) answers -1 and is not touched.
 * Reply per id: {id, deliveryCount | -1, fields} — fields is {} when trimmed or in justid mode.
 */
const OWN_CLAIM_LUA = `
local out = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)[1]
  if p and p[2] == ARGV[2] then
    if ARGV[3] == 'justid' then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')
      out[#out + 1] = {id, p[4], {}}
    else
      local c = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id)[1]
      out[#out + 1] = {id, p[4] + 1, (c and c[2]) or {}}
    end
  else
    out[#out + 1] = {id, -1, {}}
  end
end
return out`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    brainOwnClaim(stream: string, group: string, consumer: string, mode: "justid" | "fetch", ...ids: string[]): Result<[string, number, string[]][], Context>;
  }
}

const defined = new WeakSet<Redis>();

/** Defines this module's scripts on a connection, once (ioredis falls back to EVAL after a Redis restart). */
function defineScripts(redis: Redis): void {
  if (defined.has(redis)) return;
  redis.defineCommand("brainOwnClaim", { numberOfKeys: 1, lua: OWN_CLAIM_LUA });
  redis.defineCommand("brainDeleteIdleConsumers", { numberOfKeys: 1, lua: DELETE_IDLE_LUA });
  defined.add(redis);
}

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

/** Heartbeats (`justid`) or re-fetches for a retry (`fetch`) entries this consumer owns. */
export async function ownClaim(redis: Redis, stream: string, group: string, consumer: string, mode: "justid" | "fetch", ids: string[]): Promise<OwnClaimResult> {
  defineScripts(redis);
  const result: OwnClaimResult = { owned: [], lost: [] };
  for (let i = 0; i < ids.length; i += 500) {
    const reply = await redis.brainOwnClaim(stream, group, consumer, mode, ...ids.slice(i, i + 500));
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
export async function autoClaim(redis: Redis, stream: string, group: string, consumer: string, minIdleMs: number, count: number): Promise<{ entries: RawEntry[]; deletedIds: string[] }> {
  const entries: RawEntry[] = [];
  const deletedIds: string[] = [];
  let cursor = "0-0";
  // One call scans at most COUNT×10 PEL entries; a few rounds cover a large PEL.
  for (let round = 0; round < 10 && entries.length < count; round++) {
    const reply = (await redis.xautoclaim(stream, group, consumer, minIdleMs, cursor, "COUNT", count - entries.length)) as [string, [string, string[] | null][], string[]];
    const [next, claimed, deleted] = reply;
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

/** True for the error Redis answers when the group (or the whole stream) is gone. */
export function isNoGroup(err: unknown): boolean {
  return String((err as Error | undefined)?.message ?? "").startsWith("NOGROUP");
}

/**
 * Recreates a vanished group so that reading resumes after `from`, where `from` is the newest
 * entry this subscriber processed; when `keep` (an entry still waiting for a retry) is older,
 * the group starts just before it instead, and the entries between are skipped by the dedup check.
 */
export async function recreateGroup(redis: Redis, stream: string, group: string, from: string | null, keep: string | null): Promise<string> {
  let start = from ?? "0";
  if (keep !== null && compareIds(keep, start) <= 0) {
    const before = await redis.xrevrange(stream, `(${keep}`, "-", "COUNT", 1);
    start = before[0]?.[0] ?? "0";
  }
  try {
    await redis.xgroup("CREATE", stream, group, start, "MKSTREAM");
  } catch (err) {
    if (!String((err as Error).message).startsWith("BUSYGROUP")) throw err;
  }
  return start;
}

/**
 * Deletes consumers of exited processes: those other than `self` with nothing pending and idle
 * for `idleMs`. DELCONSUMER drops a consumer's pending entries, so the check and the delete run
 * in one script: no read can slip in between. A live consumer that happened to qualify loses
 * nothing (it owns no entry) and is recreated by its next read.
 */
const DELETE_IDLE_LUA = `
local n = 0
for _, row in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #row, 2 do info[row[i]] = row[i + 1] end
  if info['name'] ~= ARGV[2] and tonumber(info['pending']) == 0 and tonumber(info['idle']) > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    n = n + 1
  end
end
return n`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    brainDeleteIdleConsumers(stream: string, group: string, self: string, idleMs: number): Result<number, Context>;
  }
}

export async function deleteDeadConsumers(redis: Redis, stream: string, group: string, self: string, idleMs: number): Promise<number> {
  defineScripts(redis);
  return redis.brainDeleteIdleConsumers(stream, group, self, idleMs);
}
