import t, { type Test } from "tap";
import { Redis } from "ioredis";
import { PUBLISH_TOKEN, testEnv } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";
import { freePort, spawnGateway, startRedis } from "./helpers/processes.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The one human line a failed start-up prints; structured (JSON) log lines aside, there is no other. */
function onlyLine(t: Test, output: string): string {
  const lines = output
    .trim()
    .split("\n")
    .filter((l) => !l.startsWith("{"));
  t.equal(lines.length, 1, `one line: ${output}`);
  t.match(lines[0], /^fatal: /);
  return lines[0] ?? "";
}

t.test("required mode refuses to start without Redis, naming the masked URL and the fix", async (t) => {
  const redis = await startRedis(t);
  await redis.stop();
  const url = `redis://:s3cret-pass@127.0.0.1:${redis.port}`;
  const env = await testEnv(t, { REDIS_URL: url, LOG_LEVEL: "info" });
  const started = Date.now();
  const gw = await spawnGateway(t, env);
  const code = await gw.exited;
  t.not(code, 0, "exit code is not 0");
  // The refusal itself waits out the 3 s connect timeout; the rest is starting node, which takes
  // seconds more while the suite compiles examples and packages beside it.
  t.ok(Date.now() - started < 12_000, `exits within seconds (${Date.now() - started} ms)`);
  const line = onlyLine(t, gw.stderr());
  t.match(line, `redis://:****@127.0.0.1:${redis.port}`, "names the URL");
  t.notMatch(line, "s3cret-pass", "with the password masked");
  t.match(line, /REDIS_URL/, "and says how to fix it");
});

t.test("required mode refuses to start without Postgres, naming the masked URL and the fix", async (t) => {
  const port = await freePort();
  const url = `postgres://postgres:pg-secret@127.0.0.1:${port}/brain`;
  const env = await testEnv(t, { LOG_LEVEL: "info" });
  const started = Date.now();
  const gw = await spawnGateway(t, { ...env, DATABASE_URL: url });
  const code = await gw.exited;
  t.not(code, 0);
  t.ok(Date.now() - started < 10_000, `exits within seconds (${Date.now() - started} ms)`);
  const line = onlyLine(t, gw.stderr());
  t.match(line, `127.0.0.1:${port}/brain`);
  t.notMatch(line, "pg-secret");
  t.match(line, /DATABASE_URL/);
});

t.test("degraded mode starts without Redis, answers ingest 503 at once, and recovers by itself", async (t) => {
  const redis = await startRedis(t);
  await redis.stop();
  const env = await testEnv(t, { REDIS_URL: redis.url, BRAIN_EVENTSTREAM_MODE: "degraded" });
  const gw = await spawnGateway(t, env);
  t.equal(gw.child.exitCode, null, `it runs: ${gw.stderr()}`);
  const get = (path: string) => fetch(`${gw.url}${path}`);
  const headers = { ...auth(PUBLISH_TOKEN), "content-type": "application/json" };
  const publish = (marker: string) =>
    fetch(`${gw.url}/v1/events`, { method: "POST", headers, body: JSON.stringify(envelope({ payload: { marker } })) });

  t.equal((await get("/health/live")).status, 200, "live");
  const ready = await get("/health/ready");
  t.equal(ready.status, 503, "not ready");
  t.match(await ready.json(), { status: "not_ready", checks: { redis: "down" } });
  t.equal((await get("/docs/static/swagger-ui-bundle.js")).status, 200, "docs are served");
  t.equal((await get("/openapi.json")).status, 200);

  const refused: string[] = [];
  for (let i = 0; i < 5; i++) {
    const started = Date.now();
    const res = await publish(`refused-${i}`);
    refused.push(`refused-${i}`);
    t.equal(res.status, 503, "ingest is 503");
    t.ok(Number(res.headers.get("retry-after")) > 0, "with Retry-After");
    t.equal((await res.json()).code, "STREAM_UNAVAILABLE");
    t.ok(Date.now() - started < 3000, `answered at once (${Date.now() - started} ms)`);
  }

  await redis.start();
  let accepted = 0;
  const deadline = Date.now() + 15_000;
  let status = 0;
  for (let i = 0; status !== 202 && Date.now() < deadline; i++) {
    const res = await publish(`retry-${i}`);
    status = res.status;
    if (status === 202) accepted++;
    else {
      refused.push(`retry-${i}`);
      await sleep(200);
    }
  }
  t.equal(status, 202, "ingest works again without a restart");
  for (let i = 0; i < 3; i++) if ((await publish(`after-${i}`)).status === 202) accepted++;
  let readyAgain = 0;
  while (readyAgain !== 200 && Date.now() < deadline + 5000) {
    readyAgain = (await get("/health/ready")).status;
    if (readyAgain !== 200) await sleep(200);
  }
  t.equal(readyAgain, 200, "ready again");

  // Sentinel: anything held back in a queue would be written ahead of a command issued after the
  // reconnect, so once an event published now is in the stream, nothing is left to come.
  t.equal((await publish("sentinel")).status, 202, "the sentinel is accepted");
  accepted++;
  const raw = new Redis(redis.url);
  t.teardown(() => raw.quit());
  const entries = await raw.xrange(env["BRAIN_STREAM"]!, "-", "+");
  const markers = entries.map(([, f]) => JSON.parse(f[1]!).payload.marker as string);
  t.equal(markers.at(-1), "sentinel", "the sentinel is the newest entry");
  t.equal(entries.length, accepted, "exactly the accepted events are in the stream");
  t.same(
    markers.filter((m) => refused.includes(m)),
    [],
    "nothing answered 503 was appended later",
  );
  t.equal(gw.child.exitCode, null, "the process never stopped");
});

t.test("the mode governs start-up only: a running required-mode gateway survives losing Redis", async (t) => {
  const redis = await startRedis(t);
  const env = await testEnv(t, { REDIS_URL: redis.url });
  const gw = await spawnGateway(t, env);
  const headers = { ...auth(PUBLISH_TOKEN), "content-type": "application/json" };
  const publish = () => fetch(`${gw.url}/v1/events`, { method: "POST", headers, body: JSON.stringify(envelope()) });
  t.equal((await publish()).status, 202);

  await redis.stop();
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    const res = await publish();
    t.equal(res.status, 503, "503 while Redis is down");
    t.ok(res.headers.get("retry-after"), "with Retry-After");
    t.ok(Date.now() - started < 3500, `answered within seconds (${Date.now() - started} ms)`);
  }
  t.equal((await fetch(`${gw.url}/health/ready`)).status, 503, "not ready");
  t.equal((await fetch(`${gw.url}/health/live`)).status, 200, "still live");

  await redis.start();
  let status = 0;
  const deadline = Date.now() + 15_000;
  while (status !== 202 && Date.now() < deadline) {
    status = (await publish()).status;
    if (status !== 202) await sleep(200);
  }
  t.equal(status, 202, "ingest recovers by itself");
  t.equal(gw.child.exitCode, null, "the process never stopped");
});
