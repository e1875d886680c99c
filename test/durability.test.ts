import t, { type Test } from "tap";
import { Redis } from "ioredis";
import { build } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { StartupError } from "../src/errors.js";
import { testEnv } from "./helpers/env.js";
import { spawnGateway, startRedis } from "./helpers/processes.js";

/** Builds a gateway on `redisUrl` and returns the warn-level lines it logged while starting. */
async function startupWarnings(t: Test, redisUrl: string, env: Record<string, string> = {}): Promise<string[]> {
  const lines: string[] = [];
  const overrides = { REDIS_URL: redisUrl, BRAIN_ROLE: "api", BRAIN_TRIM_INTERVAL_MS: "0", ...env };
  const config = loadConfig(await testEnv(t, overrides));
  const app = await build(config, { level: "warn", stream: { write: (line: string) => lines.push(line) } });
  t.teardown(() => app.close());
  return lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
}

t.test("in required mode a Redis that keeps nothing on disk gets one clear warning at start", async (t) => {
  const redis = await startRedis(t); // started with --save "" --appendonly no
  const warnings = await startupWarnings(t, redis.url);
  const persistence = warnings.filter((m) => /persistence/i.test(m));
  t.equal(persistence.length, 1);
  t.match(persistence[0], /Redis persistence is off .*lost if Redis restarts.*--appendonly yes/);
});

t.test("with AOF on there is no persistence warning", async (t) => {
  const redis = await startRedis(t);
  const client = new Redis(redis.url);
  await client.config("SET", "appendonly", "yes");
  client.disconnect();
  const warnings = await startupWarnings(t, redis.url);
  t.same(
    warnings.filter((m) => /persistence/i.test(m)),
    [],
  );
});

t.test("an allkeys-* eviction policy, which can evict the stream itself, stops a required-mode start", async (t) => {
  const redis = await startRedis(t, ["--maxmemory-policy", "allkeys-lru"]);
  const config = loadConfig(await testEnv(t, { REDIS_URL: redis.url, BRAIN_ROLE: "api", BRAIN_TRIM_INTERVAL_MS: "0" }));
  await t.rejects(build(config, false), StartupError);
  await t.rejects(build(config, false), /maxmemory-policy is allkeys-lru: .*--maxmemory-policy noeviction/);

  const gw = await spawnGateway(t, await testEnv(t, { REDIS_URL: redis.url, LOG_LEVEL: "info" }));
  t.equal(await gw.exited, 1, "the process exits 1");
  const fatal = gw
    .stderr()
    .split("\n")
    .filter((l) => l.startsWith("fatal: "));
  t.equal(fatal.length, 1);
  t.match(fatal[0], /allkeys-lru.*noeviction/);
});

t.test("in degraded mode an allkeys-* policy is a loud warning, not a refusal", async (t) => {
  const redis = await startRedis(t, ["--maxmemory-policy", "allkeys-random"]);
  const lines: string[] = [];
  const env = {
    REDIS_URL: redis.url,
    BRAIN_ROLE: "api",
    BRAIN_TRIM_INTERVAL_MS: "0",
    BRAIN_EVENTSTREAM_MODE: "degraded",
  };
  const config = loadConfig(await testEnv(t, env));
  const app = await build(config, { level: "warn", stream: { write: (line: string) => lines.push(line) } });
  t.teardown(() => app.close());
  // Closing while degraded mode still migrates in the background breaks postgres.js; let it finish.
  await app.dbReady;
  const eviction = () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg).filter((m) => /maxmemory/.test(m));
  // Degraded mode checks once Redis answers, which may be just after the start.
  for (let i = 0; i < 250 && eviction().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.match(eviction(), [/allkeys-random: .*evicts any key, the event stream included.*noeviction/]);
});

t.test("a volatile-* policy warns about idempotency records; noeviction says nothing", async (t) => {
  const volatile = await startRedis(t, ["--maxmemory-policy", "volatile-lru"]);
  t.match(
    (await startupWarnings(t, volatile.url)).filter((m) => /maxmemory-policy/.test(m)),
    [/volatile-lru.*idempotency records/],
  );
  const plain = await startRedis(t);
  t.same(
    (await startupWarnings(t, plain.url)).filter((m) => /maxmemory-policy/.test(m)),
    [],
  );
});
