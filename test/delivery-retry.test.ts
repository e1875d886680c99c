/**
 * Retry timing: the schedule with ±20 % jitter, Retry-After honoured and capped at the longest
 * scheduled delay, and x-brain-attempt counting up.
 */
import t from "tap";
import { createSubscriber, deliverySetup, eventually, publish } from "./helpers/delivery.js";
import type { Received } from "./helpers/receiver.js";

const attemptOf = (r: Received) => Number(r.headers["x-brain-attempt"]);
const gaps = (rs: Received[]) => rs.slice(1).map((r, i) => r.at - rs[i]!.at);
/** Tick of the retry timer plus request handling. */
const SLACK_MS = 250;

t.test("retries follow the schedule (±20 %), and Retry-After replaces it, capped at the longest delay", async (t) => {
  const { app, receiver, sql } = await deliverySetup(t, { BRAIN_RETRY_SCHEDULE: "100ms,300ms,1500ms" });
  receiver.answer = (req) => {
    const attempt = attemptOf(req);
    if (req.path === "/hook/schedule") return { status: attempt < 4 ? 500 : 200 };
    // /hook/retry-after: 429 "retry in 1 s", then 503 "retry in 60 s" (capped at 1.5 s), then 200.
    if (attempt === 1) return { status: 429, headers: { "retry-after": "1" } };
    if (attempt === 2) return { status: 503, headers: { "retry-after": "60" } };
    return { status: 200 };
  };
  await createSubscriber(app, { name: "schedule", url: `${receiver.url}/schedule` });
  await createSubscriber(app, { name: "retry-after", url: `${receiver.url}/retry-after` });
  await publish(app);
  await eventually(
    async () => (await sql`select count(*)::int as n from processed_events`)[0]!.n === 2,
    15_000,
    "both delivered",
  );

  const scheduled = receiver.requests.filter((r) => r.path === "/hook/schedule");
  t.same(scheduled.map(attemptOf), [1, 2, 3, 4], "x-brain-attempt counts 1..4");
  const [g1, g2, g3] = gaps(scheduled) as [number, number, number];
  t.ok(g1 >= 80 && g1 <= 120 + SLACK_MS, `after attempt 1: ${g1} ms within 100 ms ±20 %`);
  t.ok(g2 >= 240 && g2 <= 360 + SLACK_MS, `after attempt 2: ${g2} ms within 300 ms ±20 %`);
  t.ok(g3 >= 1200 && g3 <= 1800 + SLACK_MS, `after attempt 3: ${g3} ms within 1500 ms ±20 %`);

  const honoured = receiver.requests.filter((r) => r.path === "/hook/retry-after");
  t.same(honoured.map(attemptOf), [1, 2, 3]);
  const [r1, r2] = gaps(honoured) as [number, number];
  t.ok(r1 >= 1000 && r1 <= 1000 + SLACK_MS, `Retry-After: 1 waited ${r1} ms (the schedule said 100 ms)`);
  t.ok(r2 >= 1500 && r2 <= 1500 + SLACK_MS, `Retry-After: 60 capped at the longest delay, 1500 ms: waited ${r2} ms`);
});
