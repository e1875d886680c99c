/**
 * Replays across real gateway processes: a gateway SIGKILLed mid-replay leaves the replay to the
 * next one, which resumes from the last saved chunk (at least once, never from scratch); one
 * stopped gracefully hands it over at once; two gateways never run one replay at the same time.
 */
import t from "tap";
import postgres from "postgres";
import { testEnv } from "./helpers/env.js";
import { spawnGateway } from "./helpers/processes.js";
import { PROCESS_ENV, eventually } from "./helpers/delivery.js";
import { call, publishMany, tally } from "./helpers/gateway.js";
import { startReceiver, type Received } from "./helpers/receiver.js";

const replayed = (id: string) => (r: Received) => r.headers["x-brain-replay"] === id;
const webhookIds = (rs: Received[]) => rs.map((r) => String(r.headers["webhook-id"]));

t.test("a gateway killed mid-replay: another resumes from the saved position and the counts add up", async (t) => {
  const receiver = await startReceiver(t);
  receiver.answer = () => ({ status: 200, delayMs: 10 });
  const env = await testEnv(t, PROCESS_ENV);
  const sql = postgres(env["DATABASE_URL"]!, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  const first = await spawnGateway(t, env);
  const created = await call(first.url, "POST", "/v1/subscribers", {
    name: "resumer",
    url: receiver.url,
    event_types: ["*"],
  });
  t.equal(created.status, 201);
  const ids = await publishMany(first.url, 300);
  const start = await call(first.url, "POST", "/v1/subscribers/resumer/replays", { from: ids[0], max_per_second: 50 });
  t.equal(start.status, 202);
  const id = start.body.id as string;
  await receiver.waitFor(120, 30_000, replayed(id));
  first.child.kill("SIGKILL");
  await first.exited;
  const [saved] = await sql`select ranges, sent from replays where id = ${id}`;
  const position = (saved!.ranges as { position: string | null }[])[0]!.position;
  t.ok(position !== null, `progress was saved before the kill: ${saved!.sent} sent up to ${position}`);
  const beforeKill = receiver.requests.filter(replayed(id)).length;

  await spawnGateway(t, env);
  const done = await eventually(
    async () => {
      const [row] = await sql`select state, total, sent, delivered, failed from replays where id = ${id}`;
      return row!.state === "completed" ? row : null;
    },
    60_000,
    "the replay to complete in the second gateway",
  );
  t.match(done, { total: 300, sent: 300, delivered: 300, failed: 0 }, "counts add up to the range");
  const got = receiver.requests.filter(replayed(id));
  const counts = tally(webhookIds(got));
  t.same([...counts.keys()].sort(), [...ids].sort(), "every entry of the range was sent");
  const savedAt = ids.indexOf(position!);
  const again = [...counts].filter(([, n]) => n > 1).map(([wid]) => ids.indexOf(wid));
  t.ok(
    again.every((i) => i > savedAt),
    `only entries after the saved position were sent twice (${again.length} of them)`,
  );
  t.ok(got.length < 300 + beforeKill, `resumed, not restarted: ${got.length} requests for 300 entries`);
});

t.test("two gateways never run one replay at once: each entry once per replay", async (t) => {
  const receiver = await startReceiver(t);
  receiver.answer = () => ({ status: 200, delayMs: 5 });
  const env = await testEnv(t, PROCESS_ENV);
  const a = await spawnGateway(t, env);
  const b = await spawnGateway(t, env);
  await call(a.url, "POST", "/v1/subscribers", { name: "shared", url: receiver.url, event_types: ["*"] });
  const ids = await publishMany(a.url, 100);
  const replays: string[] = [];
  for (const base of [a.url, b.url, a.url]) {
    const res = await call(base, "POST", "/v1/subscribers/shared/replays", { from: ids[0], max_per_second: 200 });
    replays.push(res.body.id as string);
  }
  for (const id of replays) {
    await eventually(
      async () => (await call(b.url, "GET", `/v1/subscribers/shared/replays/${id}`)).body.state === "completed",
      30_000,
      `replay ${id}`,
    );
    const counts = tally(webhookIds(receiver.requests.filter(replayed(id))));
    t.equal(counts.size, 100, `replay ${id}: every entry`);
    t.ok(
      [...counts.values()].every((n) => n === 1),
      `replay ${id}: each entry once`,
    );
  }
});

t.test("a gateway stopped gracefully hands its replay over at once, not after the lease", async (t) => {
  const receiver = await startReceiver(t);
  receiver.answer = () => ({ status: 200, delayMs: 5 });
  const env = await testEnv(t, PROCESS_ENV);
  const a = await spawnGateway(t, env);
  await call(a.url, "POST", "/v1/subscribers", { name: "handover", url: receiver.url, event_types: ["*"] });
  const ids = await publishMany(a.url, 200);
  const start = await call(a.url, "POST", "/v1/subscribers/handover/replays", { from: ids[0], max_per_second: 10 });
  const id = start.body.id as string;
  // 20 s at 10/s: the second gateway starts and the first stops well before the end.
  await receiver.waitFor(10, 30_000, replayed(id));
  const b = await spawnGateway(t, { ...env, BRAIN_ROLE: "dispatcher" });
  a.child.kill("SIGTERM");
  t.equal(await a.exited, 0, "the first gateway shut down cleanly");
  const stoppedAt = Date.now();
  const sentBefore = receiver.requests.filter(replayed(id)).length;
  const next = await receiver.waitFor(sentBefore + 1, 30_000, replayed(id));
  const gap = next[sentBefore]!.at - stoppedAt;
  t.ok(gap < 5000, `the second gateway went on ${gap} ms after the first stopped (lease: 10 s)`);
  const done = await eventually(
    async () => {
      const r = await call(b.url, "GET", `/v1/subscribers/handover/replays/${id}`);
      return r.body.state === "completed" ? r.body : null;
    },
    30_000,
    "the replay to complete",
  );
  t.match(done, { total: 200, delivered: 200, failed: 0 });
});
