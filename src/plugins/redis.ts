import fp from "fastify-plugin";
import { Redis, type RedisOptions } from "ioredis";
import { maskUrl, type Config } from "../config.js";
import { StartupError } from "../errors.js";
import { streamKeys, type StreamKeys } from "../stream/keys.js";
import { Publisher } from "../stream/publisher.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Command connection: fails fast while Redis is down, so HTTP answers 503 at once. */
    redis: Redis;
    keys: StreamKeys;
    publisher: Publisher;
  }
}

/**
 * Options for connections that serve requests. While Redis is down a command fails at once
 * (no offline queue), and a command in flight when the link drops is never resent later:
 * a request answered 503 must not be appended behind the client's back.
 */
export function requestConnectionOptions(): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 3000,
    connectTimeout: 3000,
    retryStrategy: (times) => Math.min(100 * 2 ** times, 2000),
    // Commands issued in one event-loop turn (concurrent ingest requests) share one write and
    // one Redis read: fewer syscalls on both sides (bench/RESULTS.md). Never for blocking reads.
    enableAutoPipelining: true,
  };
}

/** Redis for the HTTP path. In `required` mode an unreachable Redis stops the start-up. */
export default fp(
  async (app, opts: { config: Config }) => {
    const { config } = opts;
    const redis = new Redis(config.redisUrl, requestConnectionOptions());
    let down = false;
    // In required mode a failed first connect is reported once, by the StartupError line alone.
    let quiet = config.mode === "required";
    // connect() rejects with a generic "Connection is closed."; the socket error says why.
    let lastError: Error | undefined;
    redis.on("error", (err: Error) => {
      lastError = err;
      if (!down && !quiet) app.log.error({ err: err.message }, "redis unavailable; reconnecting");
      down = true;
    });
    redis.on("ready", () => {
      if (down && !quiet) app.log.info("redis reconnected");
      down = false;
      quiet = false;
    });
    if (config.mode === "required") {
      try {
        await redis.connect();
      } catch (err) {
        redis.disconnect();
        throw new StartupError(
          `cannot reach Redis at ${maskUrl(config.redisUrl)} (${(lastError ?? (err as Error)).message}): start Redis or set REDIS_URL; the event stream is required (ADR-001)`,
        );
      }
    } else {
      redis.connect().catch(() => {});
    }
    const keys = streamKeys(config.stream);
    app.decorate("redis", redis);
    app.decorate("keys", keys);
    app.decorate("publisher", new Publisher(redis, keys));
    app.addHook("onClose", async () => {
      await redis.quit().catch(() => redis.disconnect());
    });
  },
  { name: "redis", fastify: "5.x" },
);
