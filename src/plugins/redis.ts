import fp from "fastify-plugin";
import type { RedisClient } from "../stream/connections.js";
import { maskUrl, type Config } from "../config.js";
import { StartupError } from "../errors.js";
import { closeConnection, requestConnection } from "../stream/connections.js";
import { layout, type StreamKeys } from "../stream/keys.js";
import { checkPartitionCount } from "../stream/layout.js";
import { Publisher } from "../stream/publisher.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Command connection: fails fast while Redis is down, so HTTP answers 503 at once. */
    redis: RedisClient;
    keys: StreamKeys;
    publisher: Publisher;
  }
}

/**
 * How long a required start waits for Redis (a cluster reports ready only once its state is ok);
 * below Fastify's 10 s plugin timeout, so the refusal names Redis rather than a plugin.
 */
const CONNECT_TIMEOUT_MS = 6000;

/** connect(), bounded: a cluster whose state is not ok never becomes ready. */
async function connectWithin(redis: RedisClient, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not ready within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Redis for the HTTP path. In `required` mode an unreachable Redis stops the start-up. */
export default fp(
  async (app, opts: { config: Config }) => {
    const { config } = opts;
    const redis = requestConnection(config.redisUrl, config.redisMode);
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
    const keys = layout(config);
    const publisher = new Publisher(redis, keys, {
      partitions: config.streamPartitions,
      minReplicas: config.redisMinReplicas,
    });
    const checkLayout = () => checkPartitionCount(redis, keys, config.stream, config.stream);
    if (config.mode === "required") {
      try {
        await connectWithin(redis, CONNECT_TIMEOUT_MS);
      } catch (err) {
        redis.disconnect();
        const what = config.redisMode === "cluster" ? "the Redis Cluster (state ok)" : "Redis";
        throw new StartupError(
          `cannot reach ${what} at ${maskUrl(config.redisUrl)} (${(lastError ?? (err as Error)).message}): start ` +
            `Redis or set REDIS_URL; the event stream is required (ADR-001)`,
        );
      }
      await checkLayout().catch((err: unknown) => {
        redis.disconnect();
        throw err;
      });
    } else {
      // Until the layout check passed, ingest answers 503: a stream of another partition count
      // must not be written to.
      publisher.hold("the partition layout of the stream is not checked yet (Redis unreachable)");
      redis.once("ready", () => {
        checkLayout().then(
          () => publisher.hold(null),
          (err: Error) => {
            publisher.hold(err.message);
            app.log.error(err.message);
          },
        );
      });
      redis.connect().catch(() => {});
    }
    app.decorate<RedisClient>("redis", redis);
    app.decorate("keys", keys);
    app.decorate("publisher", publisher);
    app.addHook("onClose", async () => {
      await publisher.close();
      await closeConnection(redis);
    });
  },
  { name: "redis", fastify: "5.x" },
);
