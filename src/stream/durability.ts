/**
 * Start-up check of Redis persistence (required mode). An accepted event (202) exists only in
 * Redis until every subscriber has it; with neither AOF nor RDB snapshots a Redis restart loses
 * it. The gateway still starts (persistence is the Redis operator's call), but says so loudly.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";

/** Logs one warning when Redis keeps nothing on disk, or when that cannot be checked. */
export async function warnIfNotDurable(redis: Redis, log: FastifyBaseLogger): Promise<void> {
  let appendonly: string | undefined;
  let save: string | undefined;
  try {
    // CONFIG GET answers [name, value]; managed Redis often renames or disables CONFIG.
    [, appendonly] = (await redis.config("GET", "appendonly")) as string[];
    [, save] = (await redis.config("GET", "save")) as string[];
  } catch (err) {
    log.warn(
      `could not check Redis persistence (CONFIG GET failed: ${(err as Error).message}); make sure AOF (appendonly ` +
        `yes) or RDB snapshots are on, or accepted events are lost when Redis restarts`,
    );
    return;
  }
  if (appendonly !== "yes" && (save === undefined || save.trim() === "")) {
    log.warn(
      'Redis persistence is off (appendonly no, save ""): accepted events that are not yet delivered are lost ' +
        "if Redis restarts; run Redis with --appendonly yes",
    );
  }
}
