/**
 * Start-up checks of what Redis does with accepted events. An accepted event (202) exists only in
 * Redis until every subscriber has it:
 * - with neither AOF nor RDB snapshots a Redis restart loses it. The gateway still starts
 *   (persistence is the Redis operator's call), but says so loudly;
 * - under an `allkeys-*` maxmemory-policy Redis evicts keys when memory runs out, the stream
 *   itself included: accepted events vanish without a trace. That is fatal in `required` mode.
 *   `volatile-*` policies evict only keys with a TTL, the idempotency records among them.
 */
import type { FastifyBaseLogger } from "fastify";
import type { RedisClient } from "./connections.js";
import { StartupError } from "../errors.js";

/** The value of one setting (CONFIG GET answers [name, value]); managed Redis often renames or disables CONFIG. */
async function setting(redis: RedisClient, name: string): Promise<string | undefined> {
  const [, value] = (await redis.config("GET", name)) as string[];
  return value;
}

/** Logs one warning when Redis keeps nothing on disk. */
async function checkPersistence(redis: RedisClient, log: FastifyBaseLogger): Promise<void> {
  const appendonly = await setting(redis, "appendonly");
  const save = await setting(redis, "save");
  if (appendonly !== "yes" && (save === undefined || save.trim() === "")) {
    log.warn(
      'Redis persistence is off (appendonly no, save ""): accepted events that are not yet delivered are lost ' +
        "if Redis restarts; run Redis with --appendonly yes",
    );
  }
}

/** Refuses (required mode) or warns about an eviction policy that can drop the stream. */
async function checkEviction(redis: RedisClient, log: FastifyBaseLogger, fatal: boolean): Promise<void> {
  const policy = (await setting(redis, "maxmemory-policy")) ?? "";
  if (policy.startsWith("allkeys-")) {
    const message =
      `Redis maxmemory-policy is ${policy}: when Redis runs out of memory it evicts any key, the event stream ` +
      "included, and accepted events are lost without a trace; run Redis with --maxmemory-policy noeviction " +
      "(writes then fail with 503 instead)";
    if (fatal) throw new StartupError(message);
    log.warn(message);
  } else if (policy.startsWith("volatile-")) {
    log.warn(
      `Redis maxmemory-policy is ${policy}: under memory pressure Redis evicts idempotency records (keys with ` +
        "a TTL), so a retried request may be appended twice; --maxmemory-policy noeviction keeps them",
    );
  }
}

/**
 * Checks persistence and the eviction policy once Redis answers: at once in `required` mode
 * (where an evicting policy stops the start-up), on the first connection in `degraded` mode.
 */
export async function checkDurability(redis: RedisClient, log: FastifyBaseLogger, mode: "required" | "degraded") {
  const check = async () => {
    try {
      await checkPersistence(redis, log);
      await checkEviction(redis, log, mode === "required");
    } catch (err) {
      if (err instanceof StartupError) throw err;
      log.warn(
        `could not check Redis persistence and eviction policy (CONFIG GET failed: ${(err as Error).message}); ` +
          "make sure AOF (appendonly yes) or RDB snapshots are on and maxmemory-policy is noeviction, or " +
          "accepted events can be lost",
      );
    }
  };
  if (mode === "required") return check();
  if (redis.status === "ready") void check();
  else redis.once("ready", () => void check());
}
