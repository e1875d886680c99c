import t, { type Test } from "tap";
import { Redis } from "ioredis";
import { build } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { testEnv } from "./helpers/env.js";
import { startRedis } from "./helpers/processes.js";

/** Builds a gateway on `redisUrl` and returns the warn-level lines it logged while starting. */
async function startupWarnings(t: Test, redisUrl: string): Promise<string[]> {
  const lines: string[] = [];
  const config = loadConfig(await testEnv(t, { REDIS_URL: redisUrl, BRAIN_ROLE: "api", BRAIN_TRIM_INTERVAL_MS: "0" }));
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
