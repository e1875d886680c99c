/**
 * Every Lua script the gateway runs, defined once. Each header names its KEYS and ARGV. A
 * script touches only the keys it is given, so it stays valid when keys are spread over slots.
 * `withScripts` registers them on a connection (ioredis sends EVALSHA and falls back to EVAL
 * after a Redis restart emptied the script cache).
 */
import type { Result } from "ioredis";
import type { RedisClient } from "./connections.js";
import type { RawRange } from "./entries.js";

/**
 * brainPublish: idempotent appends, atomic with their idempotency records, so two racing
 * requests with the same key append once. Every key is checked before anything is appended: a key
 * recorded with another fingerprint (the same key, another body) appends nothing of the whole
 * request, so a batch is never written in part. No MAXLEN: the cap is the trimmer's, which records
 * what it cuts instead of losing it.
 * KEYS: stream, then one idempotency key per item (the stream key again where an item has none).
 * ARGV: ttl seconds, then per item: json, "<event id> <fingerprint>", has-key flag ("1" | "0").
 * Reply per item: {1, new stream id}, {0, "<stream id> <event id> <fingerprint>"} (a replay), or,
 * when any key conflicts, {2, that record} for each conflicting item and {3, ""} for the others.
 */
const PUBLISH = `
local ttl, n, out, prev, conflict = ARGV[1], #KEYS - 1, {}, {}, false
local function fp(record) return string.match(record, ' (%S*)$') end
for i = 1, n do
  local a = 1 + (i - 1) * 3
  if ARGV[a + 3] == '1' then
    prev[i] = redis.call('GET', KEYS[i + 1])
    if prev[i] and fp(prev[i]) ~= fp(ARGV[a + 2]) then conflict = true end
  end
end
if conflict then
  for i = 1, n do
    local a = 1 + (i - 1) * 3
    if prev[i] and fp(prev[i]) ~= fp(ARGV[a + 2]) then out[i] = {2, prev[i]} else out[i] = {3, ''} end
  end
  return out
end
for i = 1, n do
  local a = 1 + (i - 1) * 3
  if prev[i] then
    out[i] = {0, prev[i]}
  else
    local id = redis.call('XADD', KEYS[1], '*', 'event', ARGV[a + 1])
    if ARGV[a + 3] == '1' then redis.call('SET', KEYS[i + 1], id .. ' ' .. ARGV[a + 2], 'EX', ttl) end
    out[i] = {1, id}
  end
end
return out`;

/**
 * brainAppend: a batch without idempotency keys, atomic and in order; nothing to check, so one
 * argument per event instead of three.
 * KEYS[1] stream. ARGV: the envelopes. Reply: their stream ids.
 */
const APPEND = `
local out = {}
for i = 1, #ARGV do out[i] = redis.call('XADD', KEYS[1], '*', 'event', ARGV[i]) end
return out`;

/**
 * brainTailRead: an XRANGE and the server's clock in one step, for the live tail (tail.ts). An
 * entry appended after this read gets an id of at least that clock's millisecond (XADD * takes
 * the later of the clock and the stream's last id).
 * KEYS[1] stream. ARGV: start, count. Reply: {seconds, microseconds, entries}.
 */
const TAIL_READ = `
local now = redis.call('TIME')
return {now[1], now[2], redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])}`;

/**
 * brainCreateGroup: XGROUP CREATE with ENTRIESREAD set to the stream's entries-added when starting
 * at `$`, read in the same script so no XADD slips between: Redis cannot always estimate a new
 * group's lag on its own (XINFO GROUPS shows null), and a fresh subscriber should show `lag: 0`.
 * KEYS[1] stream. ARGV: group, start id. Creates the stream if needed (MKSTREAM).
 */
const CREATE_GROUP = `
if ARGV[2] ~= '$' then return redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM') end
local added = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do if info[i] == 'entries-added' then added = info[i + 1] end end
end
return redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM', 'ENTRIESREAD', added)`;

/**
 * brainOwnClaim: claims ids for their current owner only. `justid` mode is the lease heartbeat:
 * XCLAIM … JUSTID resets the idle time without counting a delivery, so XAUTOCLAIM elsewhere
 * leaves alone what this process is merely waiting to retry. `fetch` mode is a retry: a plain
 * XCLAIM counts a delivery (the attempt number) and returns the entry's fields. An id owned by
 * someone else (reclaimed while this process stalled) answers -1 and is not touched.
 * KEYS[1] stream. ARGV: group, consumer, mode ("justid" | "fetch"), ids…
 * Reply per id: {id, delivery count | -1, fields}; fields is {} when trimmed or in justid mode.
 */
const OWN_CLAIM = `
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

/**
 * brainReadWanted: reads new entries for a group (XREADGROUP >, no BLOCK) and ACKs at once those
 * whose type the consumer does not handle, so their payloads never cross the wire. Without it a
 * subscriber on one of 100 busy types fetched 99 unwanted payloads per wanted one, and one
 * shared connection could not carry that (bench/RESULTS.md). The type is read from the
 * gateway's own serialization, which starts `{"id":"…","type":"…"`; an entry it cannot read so
 * (another producer's key order, an escaped character) is returned for the consumer to decide.
 * KEYS[1] stream. ARGV: group, consumer, count, number of exact types, exact types…, prefixes…
 * Reply: {entries read, {{id, fields}…} of those returned}.
 */
const READ_WANTED = `
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
if not r then return {0, {}} end
local exact, prefixes, n = {}, {}, tonumber(ARGV[4])
for i = 5, 4 + n do exact[ARGV[i]] = true end
for i = 5 + n, #ARGV do prefixes[#prefixes + 1] = ARGV[i] end
local entries, keep, skip = r[1][2], {}, {}
for _, e in ipairs(entries) do
  local fields, t = e[2], nil
  if type(fields) == 'table' and fields[1] == 'event' and type(fields[2]) == 'string' then
    t = string.match(fields[2], '^{"id":"[^"\\\\]*","type":"([^"\\\\]*)"')
  end
  local wanted = t == nil or exact[t]
  if not wanted then
    for _, p in ipairs(prefixes) do
      if string.sub(t, 1, #p) == p then wanted = true break end
    end
  end
  if wanted then keep[#keep + 1] = e else skip[#skip + 1] = e[1] end
end
if #skip > 0 then redis.call('XACK', KEYS[1], ARGV[1], unpack(skip)) end
return {#entries, keep}`;

/**
 * brainDeleteIdleConsumers: deletes consumers of exited processes: those other than `self` with
 * nothing pending and idle for `idle ms`. DELCONSUMER drops a consumer's pending entries, so the
 * check and the delete run in one script: no read can slip in between.
 * KEYS[1] stream. ARGV: group, self, idle ms. Reply: how many were deleted.
 */
const DELETE_IDLE_CONSUMERS = `
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

/**
 * brainCapCut: the trimmer's hard-cap cut. Trims (exactly) below `minid` only if no group is
 * behind the cut other than those listed, each still at the last-delivered id it had when its
 * dead letters were recorded; else -1, so a recorded entry is never also handed over as unread.
 * KEYS[1] stream. ARGV: minid, last id being cut, then group name / last-delivered-id pairs.
 */
const CAP_CUT = `
local function before(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local expected = {}
for i = 3, #ARGV, 2 do expected[ARGV[i]] = ARGV[i + 1] end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  if before(last, ARGV[2]) and expected[name] ~= last then return -1 end
end
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])`;

/**
 * brainLeaseHold: takes the lease when free, renews it when ours.
 * KEYS[1] lease key. ARGV: holder token, ttl ms. Reply: 1 held, 0 another process holds it.
 */
const LEASE_HOLD = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`;

/**
 * brainLeaseRelease: deletes the lease only while it is still ours, so a late release cannot
 * free another holder's. KEYS[1] lease key. ARGV: holder token.
 */
const LEASE_RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * brainEventTypePut: creates or replaces one registry entry and moves the registry's version, in
 * one step, so a process that sees the new version also sees the entry. A replacement keeps the
 * entry's `created_at` (the stored JSON starts with it: keys.ts); a new entry is refused while the
 * registry holds `max` types.
 * KEYS: registry hash, version. ARGV: type, the entry's JSON without created_at, now, max.
 * Reply: {1, stored JSON} created, {0, stored JSON} replaced, {-1, ""} the registry is full.
 */
const EVENT_TYPE_PUT = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {-1, ''} end
local created = ARGV[3]
if old then created = string.match(old, '^{"created_at":"([^"]*)"') or ARGV[3] end
local value = '{"created_at":"' .. created .. '",' .. string.sub(ARGV[2], 2)
redis.call('HSET', KEYS[1], ARGV[1], value)
redis.call('INCR', KEYS[2])
if old then return {0, value} end
return {1, value}`;

/**
 * brainEventTypeDelete: removes one registry entry and moves the version, only when it existed.
 * KEYS: registry hash, version. ARGV: type. Reply: 1 deleted, 0 there was none.
 */
const EVENT_TYPE_DELETE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
return 1`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    brainPublish(numKeys: number, ...args: string[]): Result<[0 | 1 | 2 | 3, string][], Context>;
    brainAppend(stream: string, ...json: string[]): Result<string[], Context>;
    brainTailRead(stream: string, start: string, count: number): Result<[string, string, RawRange], Context>;
    brainCreateGroup(stream: string, group: string, start: string): Result<"OK", Context>;
    brainOwnClaim(
      stream: string,
      group: string,
      consumer: string,
      mode: "justid" | "fetch",
      ...ids: string[]
    ): Result<[string, number, string[]][], Context>;
    brainDeleteIdleConsumers(stream: string, group: string, self: string, idleMs: number): Result<number, Context>;
    brainReadWanted(stream: string, ...args: (string | number)[]): Result<[number, [string, string[]][]], Context>;
    brainCapCut(stream: string, minId: string, lastCut: string, ...groups: string[]): Result<number, Context>;
    brainLeaseHold(key: string, token: string, ttlMs: number): Result<0 | 1, Context>;
    brainLeaseRelease(key: string, token: string): Result<0 | 1, Context>;
    brainEventTypePut(
      registry: string,
      version: string,
      type: string,
      json: string,
      now: string,
      max: number,
    ): Result<[-1 | 0 | 1, string], Context>;
    brainEventTypeDelete(registry: string, version: string, type: string): Result<0 | 1, Context>;
  }
}

/** Name → [Lua, number of KEYS]; undefined for a variable number given with each call. */
const SCRIPTS: Record<string, [string, number | undefined]> = {
  brainPublish: [PUBLISH, undefined],
  brainAppend: [APPEND, 1],
  brainTailRead: [TAIL_READ, 1],
  brainCreateGroup: [CREATE_GROUP, 1],
  brainOwnClaim: [OWN_CLAIM, 1],
  brainDeleteIdleConsumers: [DELETE_IDLE_CONSUMERS, 1],
  brainReadWanted: [READ_WANTED, 1],
  brainCapCut: [CAP_CUT, 1],
  brainLeaseHold: [LEASE_HOLD, 1],
  brainLeaseRelease: [LEASE_RELEASE, 1],
  brainEventTypePut: [EVENT_TYPE_PUT, 2],
  brainEventTypeDelete: [EVENT_TYPE_DELETE, 2],
};

const registered = new WeakSet<RedisClient>();

/** The connection with every script registered on it (once per connection). */
export function withScripts<R extends RedisClient>(redis: R): R {
  if (registered.has(redis)) return redis;
  for (const [name, [lua, numberOfKeys]] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
  }
  registered.add(redis);
  return redis;
}
