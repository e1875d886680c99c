/**
 * Redis connections, made here and nowhere else (lint: no value import of ioredis outside
 * src/stream/ and the Redis plugin). Each comes with every Lua script registered (scripts.ts).
 *
 * BRAIN_REDIS_MODE picks a plain connection (`standalone`) or an ioredis Cluster (`cluster`,
 * REDIS_URL a comma-separated list of seed URLs). Both speak the same commands; where they
 * differ (a blocking duplicate, WAIT, the cluster's health) the difference lives in this module
 * and in publisher.ts. docs/CLUSTER.md has the measurements behind the cluster options.
 */
import { Cluster, Redis, type ClusterOptions } from "ioredis";
import { withScripts } from "./scripts.js";

/** A connection in either mode: commands, scripts and pipelines are the same. */
export type RedisClient = Redis | Cluster;

export type RedisMode = "standalone" | "cluster";

const reconnect = (times: number) => Math.min(100 * 2 ** times, 2000);

/**
 * The name a connection gives itself (CLIENT SETNAME): `brain:<pid>:<role>`, so an operator's
 * `CLIENT LIST` shows which process holds which connections and what each is for.
 */
export function connectionName(role: string): string {
  return `brain:${process.pid}:${role}`;
}

/** The seed URLs of REDIS_URL in cluster mode (comma-separated). */
export function seedUrls(url: string): string[] {
  return url
    .split(",")
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
}

/** Host, port, credentials and TLS of each seed, as ioredis Cluster takes them. */
function clusterSeeds(url: string): {
  nodes: { host: string; port: number }[];
  redisOptions: ClusterOptions["redisOptions"];
} {
  const urls = seedUrls(url).map((u) => new URL(u));
  const first = urls[0]!;
  return {
    nodes: urls.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
    redisOptions: {
      username: first.username ? decodeURIComponent(first.username) : undefined,
      password: first.password ? decodeURIComponent(first.password) : undefined,
      ...(first.protocol === "rediss:" ? { tls: {} } : {}),
    },
  };
}

/**
 * A cluster client. The retry budget (`retryDelay… × maxRedirections`) decides how long a command
 * rides out a failover before it fails: measured here, a failover takes the node timeout plus
 * 2.4–3.9 s (docs/CLUSTER.md).
 */
function cluster(url: string, budget: { delayMs: number; redirections: number }, options: ClusterOptions): Cluster {
  const { nodes, redisOptions } = clusterSeeds(url);
  return new Cluster(nodes, {
    lazyConnect: true,
    retryDelayOnFailover: budget.delayMs,
    retryDelayOnClusterDown: budget.delayMs,
    retryDelayOnTryAgain: budget.delayMs,
    maxRedirections: budget.redirections,
    // Off by default in ioredis: without it, a moved slot is learned only from an error.
    slotsRefreshInterval: 5000,
    clusterRetryStrategy: reconnect,
    ...options,
    redisOptions: { connectTimeout: 3000, ...redisOptions, ...options.redisOptions },
  });
}

/**
 * A connection that serves requests. While Redis is down a command fails at once (no offline
 * queue), and a command in flight when the link drops is never resent later: a request answered
 * 503 must not be appended behind the client's back. In cluster mode a command rides out a
 * moved slot or a short failover for about 3 s, then fails (503). Auto-pipelining halves Redis's
 * CPU per event in both modes; its cost in a cluster: a pipeline that fails on one master in part
 * (a write succeeded, another was MOVED) is not retried by ioredis, so that request answers 503
 * instead of riding out the topology change (docs/CLUSTER.md).
 */
export function requestConnection(url: string, mode: RedisMode = "standalone", role = "request"): RedisClient {
  if (mode === "cluster") {
    return withScripts(
      cluster(
        url,
        { delayMs: 200, redirections: 16 },
        {
          enableOfflineQueue: false,
          enableAutoPipelining: true,
          // ioredis routes an auto-pipelined script by its first argument, which for brainPublish
          // is the key count, not a key: sent alone, it is routed by its keys.
          autoPipeliningIgnoredCommands: ["brainPublish"],
          redisOptions: {
            commandTimeout: 3000,
            maxRetriesPerRequest: 0,
            autoResendUnfulfilledCommands: false,
            connectionName: connectionName(role),
          },
        },
      ),
    );
  }
  return withScripts(
    new Redis(url, {
      lazyConnect: true,
      connectionName: connectionName(role),
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
 * loops back off and retry themselves), and no command timeout, since the stream watcher's
 * XREAD … BLOCK runs on a duplicate of it. Connects on first use; errors are reported by the
 * loops that use it. In cluster mode commands wait out a failover (up to ~30 s).
 */
export function deliveryConnection(url: string, mode: RedisMode = "standalone", role = "delivery"): RedisClient {
  const redis =
    mode === "cluster"
      ? cluster(url, { delayMs: 500, redirections: 64 }, { redisOptions: { connectionName: connectionName(role) } })
      : new Redis(url, {
          lazyConnect: true,
          connectionName: connectionName(role),
          maxRetriesPerRequest: 1,
          connectTimeout: 3000,
          retryStrategy: reconnect,
        });
  redis.on("error", () => {});
  return withScripts(redis);
}

/**
 * A lazily connecting duplicate of a standalone connection for blocking reads, which would stall
 * every other command on it (in cluster mode blocking.ts connects to the slot's owner itself).
 */
export function blockingDuplicate(redis: Redis, role: string): Redis {
  const blocking = redis.duplicate({ lazyConnect: true, connectionName: connectionName(role) });
  blocking.on("error", () => {}); // reported by the read loop
  return blocking;
}

/** A lazily connecting copy of `redis` with the same options, for traffic that must not share its socket. */
export function duplicateConnection(redis: RedisClient): RedisClient {
  const copy = redis instanceof Cluster ? redis.duplicate() : redis.duplicate();
  copy.on("error", () => {}); // reported by the requests that use it
  return copy;
}

/** Closes a connection: QUIT when it answers, else drop it. */
export async function closeConnection(redis: RedisClient): Promise<void> {
  await redis.quit().catch(() => redis.disconnect());
}

/**
 * One round trip (readiness); rejects while Redis is unreachable, and in cluster mode while the
 * node asked does not report `cluster_state:ok` (slots uncovered during a failover).
 */
export async function pingRedis(redis: RedisClient): Promise<void> {
  if (!(redis instanceof Cluster)) {
    await redis.ping();
    return;
  }
  const info = await redis.cluster("INFO");
  if (!/cluster_state:ok/.test(String(info))) throw new Error("cluster_state is not ok");
}
