import t from "tap";
import { request } from "node:http";
import { Redis } from "ioredis";
import { PUBLISH_TOKEN, REDIS_URL, testEnv } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";
import { spawnGateway } from "./helpers/processes.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test("SIGTERM lets an in-flight request finish, then the process exits 0", async (t) => {
  const env = await testEnv(t);
  const gw = await spawnGateway(t, env);
  t.equal(gw.child.exitCode, null, `running: ${gw.stderr()}`);

  // A large batch whose body arrives in two halves: the request is in flight while the signal lands.
  const body = Buffer.from(
    JSON.stringify({
      events: Array.from({ length: 500 }, (_, i) => envelope({ payload: { i, pad: "x".repeat(1000) } })),
    }),
  );
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      `${gw.url}/v1/events/batch`,
      {
        method: "POST",
        agent: false,
        headers: { ...auth(PUBLISH_TOKEN), "content-type": "application/json", "content-length": body.length },
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.write(body.subarray(0, body.length / 2));
    setTimeout(() => {
      gw.child.kill("SIGTERM");
      setTimeout(() => req.end(body.subarray(body.length / 2)), 500);
    }, 300);
  });

  const res = await answer;
  t.equal(res.status, 202, `the in-flight batch was accepted: ${res.body.slice(0, 200)}`);
  t.equal(JSON.parse(res.body).results.length, 500);
  t.equal(await gw.exited, 0, "exit code 0");

  const raw = new Redis(REDIS_URL);
  t.teardown(() => raw.quit());
  t.equal(await raw.xlen(env["BRAIN_STREAM"]!), 500, "every event of the batch was appended");
});

t.test("after SIGTERM new connections are refused while the process drains and exits", async (t) => {
  const env = await testEnv(t);
  const gw = await spawnGateway(t, env);
  const started = Date.now();
  gw.child.kill("SIGTERM");
  t.equal(await gw.exited, 0);
  t.ok(Date.now() - started < 5000, `an idle gateway exits promptly (${Date.now() - started} ms)`);
  await sleep(50);
  const after = await fetch(`${gw.url}/health/live`).then(
    (r) => r.status,
    () => "refused",
  );
  t.equal(after, "refused");
});
