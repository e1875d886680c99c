/**
 * The event-type registry in Redis: the hash `<stream>:event-types` and its version counter
 * (keys.ts). Entries travel as the JSON text they are stored as; parsing them and compiling their
 * schemas is the ingest layer's (ingest/registry.ts). Every change moves the version in the same
 * script (scripts.ts), which is what lets other processes notice it with one GET.
 */
import type { RedisClient } from "./connections.js";
import { redisFailure } from "../errors.js";
import type { StreamKeys } from "./keys.js";

/** The registry as one read saw it: its version ("" before any change) and type → stored JSON. */
export interface RegistrySnapshot {
  version: string;
  entries: Map<string, string>;
}

/** The registry's version; "" when it was never changed (or Redis lost it). */
export async function readEventTypesVersion(redis: RedisClient, keys: StreamKeys): Promise<string> {
  try {
    return (await redis.get(keys.eventTypesVersion)) ?? "";
  } catch (cause) {
    throw redisFailure(cause);
  }
}

/** Every entry and the version they belong to, read in one MULTI so the two agree. */
export async function readEventTypes(redis: RedisClient, keys: StreamKeys): Promise<RegistrySnapshot> {
  let replies: [Error | null, unknown][] | null;
  try {
    replies = await redis.multi().get(keys.eventTypesVersion).hgetall(keys.eventTypes).exec();
  } catch (cause) {
    throw redisFailure(cause);
  }
  const [[versionError, version], [hashError, hash]] = replies as [[Error | null, unknown], [Error | null, unknown]];
  if (versionError || hashError) throw redisFailure(versionError ?? hashError);
  // ioredis builds the hash as an object with own keys only, so Object.entries is safe for any field.
  const entries = new Map(Object.entries(hash as Record<string, string>));
  return { version: (version as string | null) ?? "", entries };
}

/** One entry's stored JSON, or null when the type is not registered. */
export async function readEventType(redis: RedisClient, keys: StreamKeys, type: string): Promise<string | null> {
  try {
    return await redis.hget(keys.eventTypes, type);
  } catch (cause) {
    throw redisFailure(cause);
  }
}

/** What a put did: created or replaced the entry (`stored` is its JSON as stored), or nothing (`full`). */
export type PutResult = { outcome: "created" | "replaced"; stored: string } | { outcome: "full" };

/**
 * Creates or replaces one entry. `json` is the entry without `created_at`, an object's JSON: the
 * script puts `created_at` first, `now` for a new entry and the old value for a replacement.
 * A new entry is refused while `max` types are registered.
 */
export async function writeEventType(
  redis: RedisClient,
  keys: StreamKeys,
  type: string,
  json: string,
  now: string,
  max: number,
): Promise<PutResult> {
  let reply: [-1 | 0 | 1, string];
  try {
    reply = await redis.brainEventTypePut(keys.eventTypes, keys.eventTypesVersion, type, json, now, max);
  } catch (cause) {
    throw redisFailure(cause);
  }
  const [code, stored] = reply;
  if (code === -1) return { outcome: "full" };
  return { outcome: code === 1 ? "created" : "replaced", stored };
}

/** Removes one entry; false when there was none. */
export async function removeEventType(redis: RedisClient, keys: StreamKeys, type: string): Promise<boolean> {
  try {
    return (await redis.brainEventTypeDelete(keys.eventTypes, keys.eventTypesVersion, type)) === 1;
  } catch (cause) {
    throw redisFailure(cause);
  }
}
