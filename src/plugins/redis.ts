import fp from "fastify-plugin";
import type { Redis } from "ioredis";
import { maskUrl, type Config } from "../config.js";
import { StartupError } from "../errors.js";
import { closeConnection, requestConnection } from "../stream/connections.js";
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

/** Redis for the HTTP path. In `required` mode an unreachable Redis stops the start-up. */
export default fp(
  async (app, opts: { config: Config }) => {
    const { config } = opts;
    const redis = requestConnection(config.redisUrl);
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
          `cannot reach Redis at ${maskUrl(config.redisUrl)} (${(lastError ?? (err as Error)).message}): start ` +
            `Redis or set REDIS_URL; the event stream is required (ADR-001)`,
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
      await closeConnection(redis);
    });
  },
  { name: "redis", fastify: "5.x" },
);
