/** POST /v1/subscribers/{name}/dead-letters/redeliver: several dead letters, each as one redeliver does it. */
import t from "tap";
import { recordTrimmed } from "../src/db/dead-letters.js";
import { BULK_REDELIVER_CONCURRENCY } from "../src/delivery/redeliver.js";
import { createSubscriber, deliverySetup, eventually, publish } from "./helpers/delivery.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";

t.test("a mix of successes, failures, unknown ids and a trimmed entry, answered in order", async (t) => {
  const { app, receiver, sql } = await deliverySetup(t);
  receiver.answer = () => ({ status: 400 });
  await createSubscriber(app, { name: "bulk", url: receiver.url });
  const ids: string[] = [];
  for (const n of [1, 2, 3]) ids.push(await publish(app, { type: "order.paid", payload: { n } }));
  await eventually(
    async () => (await sql`select count(*)::int as n from dead_letters where subscriber_name = 'bulk'`)[0]!.n === 3,
  );
  await recordTrimmed(app.db, "bulk", [{ id: "1-0", eventId: null, json: null }], "cut by the cap");
  const [a, b, c] = ids as [string, string, string];
  receiver.answer = (req) => ({ status: JSON.parse(req.body).payload.n === 2 ? 500 : 204 });
  const before = receiver.requests.length;

  const res = await app.inject({
    method: "POST",
    url: "/v1/subscribers/bulk/dead-letters/redeliver",
    headers: auth(ADMIN_TOKEN),
    payload: { stream_message_ids: [a, "9-9", b, "1-0", c] },
  });
  t.equal(res.statusCode, 202, res.body);
  t.match(res.json().results, [
    { stream_message_id: a, outcome: "delivered", attempt: 2, status_code: 204, error: null },
    { stream_message_id: "9-9", code: "NOT_FOUND", error: /no dead letter/ },
    { stream_message_id: b, outcome: "failed", attempt: 2, status_code: 500, error: String },
    { stream_message_id: "1-0", code: "CONFLICT", error: /no longer stored/ },
    { stream_message_id: c, outcome: "delivered", attempt: 2, status_code: 204, error: null },
  ]);
  t.notOk("outcome" in res.json().results[1], "no attempt for an unknown id");
  const sent = receiver.requests.slice(before);
  t.same(
    sent.map((r) => r.headers["webhook-id"]).sort(),
    [a, b, c].sort(),
    "one request per dead letter with an event",
  );
  t.ok(
    sent.every((r) => r.headers["x-brain-attempt"] === "2"),
    "each as a new attempt",
  );
  const letters = await sql`select stream_message_id, resolved_at is not null as resolved, last_status_code
    from dead_letters where subscriber_name = 'bulk' order by stream_message_id`;
  t.same(Object.fromEntries(letters.map((l) => [l["stream_message_id"], [l["resolved"], l["last_status_code"]]])), {
    [a]: [true, 400],
    [b]: [false, 500],
    [c]: [true, 400],
    "1-0": [false, null],
  });
  const outcomes = await sql`select outcome from processed_events where subscriber_name = 'bulk'
    and stream_message_id in ${sql([a, b, c])} order by stream_message_id`;
  t.same(
    outcomes.map((o) => o["outcome"]),
    [a, b, c].sort().map((id) => (id === b ? "dead_lettered" : "delivered")),
  );
  const log = await app.inject({
    method: "GET",
    url: "/v1/subscribers/bulk/deliveries?limit=3",
    headers: auth(ADMIN_TOKEN),
  });
  t.same(
    log.json().deliveries.map((d: { attempt: number; event_type: string }) => [d.attempt, d.event_type]),
    [
      [2, "order.paid"],
      [2, "order.paid"],
      [2, "order.paid"],
    ],
    "the attempts are in the log with their event type",
  );
});

t.test("at most a bounded number of requests at once", async (t) => {
  const { app, receiver, sql } = await deliverySetup(t);
  receiver.answer = () => ({ status: 400 });
  await createSubscriber(app, { name: "many", url: receiver.url });
  const ids: string[] = [];
  for (let n = 0; n < 20; n++) ids.push(await publish(app, { payload: { n } }));
  await eventually(
    async () => (await sql`select count(*)::int as n from dead_letters where subscriber_name = 'many'`)[0]!.n === 20,
  );
  let most = 0;
  receiver.answer = () => {
    most = Math.max(most, receiver.open() + 1);
    return { status: 200, delayMs: 100 };
  };
  const res = await app.inject({
    method: "POST",
    url: "/v1/subscribers/many/dead-letters/redeliver",
    headers: auth(ADMIN_TOKEN),
    payload: { stream_message_ids: ids },
  });
  t.equal(res.statusCode, 202);
  t.ok(
    res.json().results.every((r: { outcome: string }) => r.outcome === "delivered"),
    "all delivered",
  );
  t.ok(most > 1 && most <= BULK_REDELIVER_CONCURRENCY, `${most} at once`);
});

t.test("the request is checked before anything is sent", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  await createSubscriber(app, { name: "checked", url: receiver.url });
  const post = (name: string, payload: unknown, token = ADMIN_TOKEN) =>
    app.inject({
      method: "POST",
      url: `/v1/subscribers/${name}/dead-letters/redeliver`,
      headers: { ...auth(token), "content-type": "application/json" },
      payload: typeof payload === "string" ? payload : JSON.stringify(payload),
    });
  for (const [what, body] of [
    ["empty", { stream_message_ids: [] }],
    ["101 ids", { stream_message_ids: Array.from({ length: 101 }, (_, i) => `${i + 1}-0`) }],
    ["an id twice", { stream_message_ids: ["1-0", "1-0"] }],
    ["not a stream id", { stream_message_ids: ["abc"] }],
    ["beyond 2^64", { stream_message_ids: ["18446744073709551616-0"] }],
    ["NUL", { stream_message_ids: ["1-0\u0000"] }],
    ["another key", '{"stream_message_ids":["1-0"],"__proto__":{"x":1}}'],
    ["a huge string", { stream_message_ids: ["1".repeat(1024 * 1024)] }],
  ] as const) {
    const res = await post("checked", body);
    t.equal(res.statusCode, what === "a huge string" ? 413 : 400, what);
  }
  t.equal((await post("nobody", { stream_message_ids: ["1-0"] })).statusCode, 404);
  t.equal((await post("checked", { stream_message_ids: ["1-0"] }, PUBLISH_TOKEN)).statusCode, 403);
  const ok = await post("checked", { stream_message_ids: ["1-0"] });
  t.same(ok.json().results, [
    { stream_message_id: "1-0", code: "NOT_FOUND", error: "subscriber checked has no dead letter for 1-0" },
  ]);
  t.equal(receiver.requests.length, 0);
});
