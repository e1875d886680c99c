/**
 * Redis connections, made here and nowhere else (lint: no value import of ioredis outside
 * src/stream/ and the Redis plugin). Each comes with every Lua script registered (scripts.ts).
 */
import { Redis } from "ioredis";
import { withScripts } from "./scripts.js";

const reconnect = (times: number) => Math.min(100 * 2 ** times, 2000);

/**
 * A connection that serves requests. While Redis is down a command fails at once (no offline
 * queue), and a command in flight when the link drops is never resent later: a request answered
 * 503 must not be appended behind the client's back.
 */
export function requestConnection(url: string): Redis {
  return withScripts(
    new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 3000,
      connectTimeout: 3000,
      retryStrategy: reconnect,
      // Commands issued in one event-loop turn (concurrent ingest requests) share one write and
      // one Redis read: fewer syscalls on both sides (bench/RESULTS.md). Never for blocking reads.
      enableAutoPipelining: true,
    }),
  );
}

/**
 * A connection of the delivery side: commands fail after one retry while Redis is down (the
 * loops back off and retry themselves), and no command timeout, since the blocking reader's
 * XREADGROUP … BLOCK runs on a duplicate of it. Connects on first use; errors are reported by
 * the loops that use it.
 */
export function deliveryConnection(url: string): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    retryStrategy: reconnect,
  });
  redis.on("error", () => {});
  return withScripts(redis);
}

/** A lazily connecting duplicate of `redis` for blocking reads, which would stall every other command on it. */
export function blockingDuplicate(redis: Redis): Redis {
  const blocking = redis.duplicate({ lazyConnect: true });
  blocking.on("error", () => {}); // reported by the read loop
  return blocking;
}

/** Closes a connection: QUIT when it answers, else drop it. */
export async function closeConnection(redis: Redis): Promise<void> {
  await redis.quit().catch(() => redis.disconnect());
}

/** One round trip (readiness); rejects while Redis is unreachable. */
export async function pingRedis(redis: Redis): Promise<void> {
  await redis.ping();
}
