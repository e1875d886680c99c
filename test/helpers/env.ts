/**
 * Test isolation: every test file gets its own Postgres database and its own stream key, so
 * files run in parallel against the one Redis and Postgres on this machine. Also the URLs,
 * tokens and paths every test shares.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import postgres from "postgres";

/** The part of a tap test the helpers need: somewhere to register clean-up. */
export type Test = { teardown(fn: () => unknown): void };

export const REDIS_URL = process.env["TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";
export const PG_ADMIN_URL = process.env["TEST_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const ADMIN_TOKEN = "test-admin-token-0123456789";
export const PUBLISH_TOKEN = "test-publish-token-0123456789";
export const BOTH_TOKEN = "test-both-token-0123456789ab";
export const TOKENS = `${ADMIN_TOKEN}=admin,${PUBLISH_TOKEN}=publish,${BOTH_TOKEN}=admin+publish`;
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const unique = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;

/** Creates a fresh database for this test file and drops it at teardown; returns its URL. */
export async function createTestDatabase(t: Test): Promise<string> {
  const name = unique("brain_t");
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  t.teardown(async () => {
    const c = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    await c.unsafe(`drop database if exists ${name} with (force)`);
    await c.end();
  });
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Environment for an isolated gateway: own stream key, own database, known tokens. */
export async function testEnv(t: Test, overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  const stream = unique("test:stream");
  // A cluster's seed list: its keys go with the test's cluster, which the test tears down.
  if (overrides["REDIS_URL"]?.includes(",")) return envFor(t, stream, overrides);
  // No reconnecting: the teardown must not wait on a Redis the test has stopped.
  const redis = new Redis(overrides["REDIS_URL"] ?? REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  t.teardown(async () => {
    // Best effort: a test may have stopped the Redis it pointed at.
    try {
      await redis.connect();
      const keys = await redis.keys(`${stream}*`);
      if (keys.length > 0) await redis.del(...keys);
    } catch {
      /* the keys die with that Redis */
    }
    redis.disconnect();
  });
  return envFor(t, stream, overrides);
}

async function envFor(t: Test, stream: string, overrides: Record<string, string>): Promise<Record<string, string>> {
  return {
    REDIS_URL,
    DATABASE_URL: overrides["DATABASE_URL"] ?? (await createTestDatabase(t)),
    BRAIN_STREAM: stream,
    BRAIN_API_TOKENS: TOKENS,
    LOG_LEVEL: "silent",
    // Loading and compiling the test file stalls the event loop for a second or more, which load
    // shedding would answer with 503 on the first requests; tests of shedding set it themselves.
    BRAIN_MAX_EVENT_LOOP_DELAY_MS: "0",
    ...overrides,
  };
}
