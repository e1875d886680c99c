/**
 * The one module that writes to the event stream (Charter TEIL C: lint fails on XADD elsewhere).
 *
 * Appends run inside one Lua script so that the idempotency check, the XADD and the
 * idempotency record are atomic: two racing requests with the same key append once.
 */
import type { Redis, Result } from "ioredis";
import { errors } from "../errors.js";
import type { StreamKeys } from "./keys.js";

/** Idempotency records live 24 h (SPEC §3). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

// ARGV: ttl, then per item: json, "<event id> <fingerprint>", has-key flag. No MAXLEN here: the
// cap is the trimmer's (stream/trimmer.ts), which records what it cuts instead of losing it.
// KEYS: stream, then one idempotency key per item (the stream key again where an item has none).
const PUBLISH_LUA = `
local ttl, out = ARGV[1], {}
for i = 1, #KEYS - 1 do
  local a = 1 + (i - 1) * 3
  local haskey = ARGV[a + 3] == '1'
  local prev = haskey and redis.call('GET', KEYS[i + 1])
  if prev then
    out[i] = {0, prev}
  else
    local id = redis.call('XADD', KEYS[1], '*', 'event', ARGV[a + 1])
    if haskey then redis.call('SET', KEYS[i + 1], id .. ' ' .. ARGV[a + 2], 'EX', ttl) end
    out[i] = {1, id}
  end
end
return out`;

// Batches without idempotency keys: KEYS[1] = stream, ARGV = the envelopes. Nothing to check,
// so one argument per event instead of four (key, json, "<id> <fingerprint>", flag).
const APPEND_LUA = `
local out = {}
for i = 1, #ARGV do out[i] = redis.call('XADD', KEYS[1], '*', 'event', ARGV[i]) end
return out`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    brainPublish(numKeys: number, ...args: string[]): Result<[0 | 1, string][], Context>;
    brainAppend(stream: string, ...json: string[]): Result<string[], Context>;
  }
}

export interface PublishItem {
  /** The envelope as it will be stored and delivered. */
  json: string;
  eventId: string;
  /** Idempotency-Key header or body id; absent when the request has neither. */
  idempotencyKey?: string;
  /** Hash of the request as sent, to tell a retry from a key reused for another body (only with a key). */
  fingerprint?: string;
}

export interface PublishResult {
  /** false when the key was accepted before: nothing was appended. */
  created: boolean;
  streamMessageId: string;
  eventId: string;
  fingerprint: string;
}

export class Publisher {
  constructor(
    private readonly redis: Redis,
    private readonly keys: StreamKeys,
  ) {
    redis.defineCommand("brainPublish", { lua: PUBLISH_LUA });
    redis.defineCommand("brainAppend", { lua: APPEND_LUA, numberOfKeys: 1 });
  }

  /**
   * Appends the items in order, all in one atomic script; Redis failures become 503. Without
   * idempotency keys there is nothing to check: one item is a plain XADD (less than half of
   * Redis's CPU), a batch a leaner script (bench/RESULTS.md). A script, not MULTI: one EVALSHA
   * costs the gateway far less than 100 queued XADDs (a Command and a promise each).
   */
  async publish(items: PublishItem[]): Promise<PublishResult[]> {
    if (items.every((item) => item.idempotencyKey === undefined)) return this.append(items);
    const keys = [this.keys.stream];
    const argv = [String(IDEMPOTENCY_TTL_SECONDS)];
    for (const item of items) {
      keys.push(item.idempotencyKey === undefined ? this.keys.stream : this.keys.idempotency(item.idempotencyKey));
      argv.push(item.json, `${item.eventId} ${item.fingerprint ?? ""}`, item.idempotencyKey === undefined ? "0" : "1");
    }
    let reply: [0 | 1, string][];
    try {
      reply = await this.redis.brainPublish(keys.length, ...keys, ...argv);
    } catch (cause) {
      throw new errors.StreamUnavailable({ cause });
    }
    return reply.map(([created, value], i) => {
      if (created === 1) return { created: true, streamMessageId: value, eventId: items[i]!.eventId, fingerprint: items[i]!.fingerprint ?? "" };
      const [streamMessageId = "", eventId = "", fingerprint = ""] = value.split(" ");
      return { created: false, streamMessageId, eventId, fingerprint };
    });
  }

  /** Items without idempotency keys: XADD for one, the append script for several (atomic, in order). */
  private async append(items: PublishItem[]): Promise<PublishResult[]> {
    const stream = this.keys.stream;
    let ids: string[];
    try {
      ids = items.length === 1
        ? [(await this.redis.xadd(stream, "*", "event", items[0]!.json))!]
        : await this.redis.brainAppend(stream, ...items.map((item) => item.json));
    } catch (cause) {
      throw new errors.StreamUnavailable({ cause });
    }
    return items.map((item, i) => ({ created: true, streamMessageId: ids[i]!, eventId: item.eventId, fingerprint: item.fingerprint ?? "" }));
  }
}
