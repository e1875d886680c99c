/**
 * Per-minute delivery activity (GET /v1/subscribers/{name}/activity, GET /v1/activity/subscribers):
 * attempts with known times, outcomes and durations are written to the delivery log directly (a
 * real delivery cannot choose its minute), then one real delivery shows up in it.
 */
import t from "tap";
import { deliveryAttempts } from "../src/db/schema.js";
import { buildApp } from "./helpers/app.js";
import { createSubscriber, deliverySetup, eventually, publish } from "./helpers/delivery.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";

interface Minute {
  minute: string;
  delivered: number;
  retry: number;
  dead_lettered: number;
  p50_ms: number | null;
  p99_ms: number | null;
}
interface Activity {
  from: string;
  to: string;
  minutes: Minute[];
}

const admin = auth(ADMIN_TOKEN);
const MINUTE = 60_000;
const zero = { delivered: 0, retry: 0, dead_lettered: 0, p50_ms: null, p99_ms: null };

t.test("attempts are counted per minute by outcome, with p50/p99 over all of the minute's attempts", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  const get = (url: string) => app.inject({ method: "GET", url, headers: admin });
  for (const name of ["agg", "idle", "other"]) {
    await createSubscriber(app, { name, url: "https://8.8.8.8/hook" });
  }
  await app.db.$client`insert into subscribers (name, kind, event_types) values ('projector', 'internal', '{*}')`;

  const current = Math.floor(Date.now() / MINUTE) * MINUTE;
  const a = current - 5 * MINUTE;
  const b = current - 3 * MINUTE;
  const row = (name: string, at: number, outcome: "delivered" | "retry" | "dead_lettered", durationMs: number) => ({
    subscriberName: name,
    streamMessageId: `${at}-0`,
    eventType: "order.paid",
    attempt: 1,
    durationMs,
    outcome,
    at: new Date(at),
  });
  // Minute a: 10 attempts taking 1..10 ms, 5 delivered, 4 retried, 1 dead-lettered, spread over the minute.
  const outcomes = ["delivered", "retry", "delivered", "retry", "delivered", "dead_lettered"] as const;
  await app.db.insert(deliveryAttempts).values([
    ...Array.from({ length: 10 }, (_, i) => row("agg", a + i * 5_000, outcomes[i % 6]!, 10 - i)),
    row("agg", b + 59_999, "retry", 250),
    // Outside every window asked for below, and another subscriber's attempts in minute a.
    row("agg", current - 61 * MINUTE, "dead_lettered", 9_999),
    row("other", a + 1_000, "dead_lettered", 7),
    row("other", a + 2_000, "dead_lettered", 7),
  ]);
  const expectedA = { delivered: 5, retry: 4, dead_lettered: 1, p50_ms: 5, p99_ms: 10 };
  const expectedB = { delivered: 0, retry: 1, dead_lettered: 0, p50_ms: 250, p99_ms: 250 };

  /** The answer's minutes, checked for shape, with the expected ones picked out. */
  const check = (body: Activity, minutes: number, expected: Map<number, Omit<Minute, "minute">>) => {
    t.equal(Date.parse(body.to) - Date.parse(body.from), minutes * MINUTE);
    t.equal(Date.parse(body.to) % MINUTE, 0, "whole minutes");
    t.ok(Date.parse(body.to) > Date.now() - MINUTE, "ends with the current minute");
    t.equal(body.minutes.length, minutes, "one entry per minute");
    body.minutes.forEach((m, i) => {
      const at = Date.parse(body.from) + i * MINUTE;
      t.equal(m.minute, new Date(at).toISOString(), "oldest first, no gaps");
      t.same({ ...m, minute: undefined }, { ...(expected.get(at) ?? zero), minute: undefined });
    });
  };

  const res = await get("/v1/subscribers/agg/activity?minutes=10");
  t.equal(res.statusCode, 200, res.body);
  check(
    res.json(),
    10,
    new Map([
      [a, expectedA],
      [b, expectedB],
    ]),
  );
  const hour = (await get("/v1/subscribers/agg/activity")).json() as Activity;
  t.equal(hour.minutes.length, 60, "60 minutes when absent");
  t.equal(
    hour.minutes.reduce((n, m) => n + m.dead_lettered, 0),
    1,
    "an attempt older than the window is not counted",
  );
  const internal = (await get("/v1/subscribers/projector/activity?minutes=3")).json() as Activity;
  t.same(
    internal.minutes.map((m) => ({ ...m, minute: undefined })),
    [zero, zero, zero].map((z) => ({ ...z, minute: undefined })),
    "an internal consumer's minutes are zeros: its attempts are not logged",
  );
  t.equal((await get("/v1/subscribers/nobody/activity")).statusCode, 404);

  t.test("every subscriber at once, the same minutes as one by one", async (t) => {
    const res = await get("/v1/activity/subscribers?minutes=10");
    t.equal(res.statusCode, 200, res.body);
    const body = res.json() as { from: string; to: string; subscribers: { name: string; minutes: Minute[] }[] };
    t.same(
      body.subscribers.map((s) => s.name),
      ["agg", "idle", "other", "projector"],
      "webhook and internal subscribers, with or without attempts, by name",
    );
    const window = { from: body.from, to: body.to };
    check(
      { ...window, minutes: body.subscribers[0]!.minutes },
      10,
      new Map([
        [a, expectedA],
        [b, expectedB],
      ]),
    );
    check({ ...window, minutes: body.subscribers[1]!.minutes }, 10, new Map());
    check(
      { ...window, minutes: body.subscribers[2]!.minutes },
      10,
      new Map([[a, { ...zero, dead_lettered: 2, p50_ms: 7, p99_ms: 7 }]]),
    );
    check({ ...window, minutes: body.subscribers[3]!.minutes }, 10, new Map());
    t.equal((await get("/v1/activity/subscribers")).json().subscribers[0].minutes.length, 60);
  });

  t.test("out-of-range or hostile minutes and names are 400, the token must be admin", async (t) => {
    for (const q of ["0", "1441", "-1", "1.5", "abc", "9007199254740993", "1e400", "__proto__", "%00"]) {
      const res = await get(`/v1/subscribers/agg/activity?minutes=${q}`);
      t.equal(res.statusCode, 400, `minutes=${q}`);
      t.equal(res.json().code, "INVALID_REQUEST");
    }
    t.equal((await get("/v1/subscribers/agg/activity?minutes=1440")).json().minutes.length, 1440);
    for (const q of ["0", "61", "1440"]) {
      t.equal((await get(`/v1/activity/subscribers?minutes=${q}`)).statusCode, 400, `all, minutes=${q}`);
    }
    for (const name of ["__proto__", "%00", "A"]) {
      t.equal((await get(`/v1/subscribers/${name}/activity`)).statusCode, 400, name);
    }
    for (const url of ["/v1/subscribers/agg/activity", "/v1/activity/subscribers"]) {
      const res = await app.inject({ method: "GET", url, headers: auth(PUBLISH_TOKEN) });
      t.equal(res.statusCode, 403, url);
    }
  });
});

t.test("a real delivery and its retry show up in the minute they were made, and in the filtered log", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  receiver.answer = (_req, i) => ({ status: i === 0 ? 503 : 200 });
  await createSubscriber(app, { name: "live", url: receiver.url });
  const before = Date.now();
  const id = await publish(app, { type: "order.paid" });
  await receiver.waitFor(2);
  const get = (url: string) => app.inject({ method: "GET", url, headers: admin });
  const log = await eventually(async () => {
    const body = (await get("/v1/subscribers/live/deliveries?event_type=order.paid")).json();
    return body.deliveries.length === 2 && body;
  });
  t.same(
    log.deliveries.map((d: { outcome: string; event_type: string; stream_message_id: string; attempt: number }) => [
      d.outcome,
      d.event_type,
      d.stream_message_id,
      d.attempt,
    ]),
    [
      ["delivered", "order.paid", id, 2],
      ["retry", "order.paid", id, 1],
    ],
  );
  t.same((await get("/v1/subscribers/live/deliveries?event_type=order.created")).json().deliveries, []);
  const activity = (await get("/v1/subscribers/live/activity?minutes=5")).json() as Activity;
  const busy = activity.minutes.filter((m) => m.delivered + m.retry > 0);
  t.same(
    busy.reduce((n, m) => [n[0]! + m.delivered, n[1]! + m.retry, n[2]! + m.dead_lettered], [0, 0, 0]),
    [1, 1, 0],
  );
  for (const m of busy) {
    t.ok(Date.parse(m.minute) >= Math.floor(before / MINUTE) * MINUTE, "in a minute since publishing");
    t.ok(m.p50_ms !== null && m.p99_ms !== null && m.p50_ms <= m.p99_ms, "latencies of real attempts");
  }
});
