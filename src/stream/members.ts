/**
 * A set of live processes (sorted set: process name → last heartbeat ms), such as those sharing an
 * ordered subscriber's partitions (keys.ts `orderMembers`). Members silent for the TTL drop out.
 */
import type { RedisClient } from "./connections.js";

/** Records `member` as alive now and returns how many members are alive. */
export async function heartbeatMember(redis: RedisClient, key: string, member: string, ttlMs: number): Promise<number> {
  const now = Date.now();
  const replies = await redis
    .pipeline()
    .zadd(key, now, member)
    .zremrangebyscore(key, "-inf", now - ttlMs)
    .zcard(key)
    .pexpire(key, 10 * ttlMs)
    .exec();
  return Number(replies?.[2]?.[1] ?? 1);
}

/** Removes `member` at once (a graceful stop). */
export async function leaveMembers(redis: RedisClient, key: string, member: string): Promise<void> {
  await redis.zrem(key, member);
}
