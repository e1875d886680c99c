/**
 * Runtime behaviour: subscribers created, disabled and deleted while the gateway runs; the
 * operator's redeliver override; graceful shutdown leaving unfinished entries pending.
 */
import t from "tap";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { ADMIN_TOKEN, PUBLISH_TOKEN, REDIS_URL } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";
import { createSubscriber, deliverySetup, eventually, pendingCount, publish } from "./helpers/delivery.js";

/** The id of the newest entry the subscriber's group has read (XINFO GROUPS `last-delivered-id`). */
async function lastRead(app: FastifyInstance, subscriber: string): Promise<string> {
  const groups = (await app.redis.xinfo("GROUPS", app.keys.stream)) as unknown[][];
  const group = groups.find((g) => g[g.indexOf("name") + 1] === subscriber)!;
  return String(group[group.indexOf("last-delivered-id") + 1]);
}

t.test("a subscriber disabled, re-enabled and deleted at runtime is stopped, resumed and gone", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  const patch = (payload: object) =>
    app.inject({ method: "PATCH", url: "/v1/subscribers/live", headers: auth(ADMIN_TOKEN), payload });
  await createSubscriber(app, { name: "live", url: receiver.url });
  const first = await publish(app);
  await receiver.waitFor(1);

  t.equal((await patch({ enabled: false })).statusCode, 200);
  // Marker step: a reload begun after the PATCH has applied it and awaited the consumer's stop.
  await app.dispatcher.reload();
  t.notOk(app.dispatcher.subscribers().includes("live"), "the consumer is stopped once disabled");
  const whileDisabled = await publish(app);
  // Only a reload (the dispatcher's poll) starts consumers: after one more, nothing has read the entry.
  await app.dispatcher.reload();
  t.notOk(app.dispatcher.subscribers().includes("live"), "the poll does not restart it");
  t.equal(await lastRead(app, "live"), first, "the new event waits unread");
  t.equal(receiver.requests.length, 1, "nothing is delivered while disabled");

  t.equal((await patch({ enabled: true })).statusCode, 200);
  const [, resumed] = await receiver.waitFor(2, 5000);
  t.equal(resumed!.headers["webhook-id"], whileDisabled, "the backlog is delivered once re-enabled");

  const del = await app.inject({ method: "DELETE", url: "/v1/subscribers/live", headers: auth(ADMIN_TOKEN) });
  t.equal(del.statusCode, 204);
  await app.dispatcher.reload();
  t.notOk(app.dispatcher.subscribers().includes("live"), "the consumer is stopped once deleted");
  await publish(app);
  await app.dispatcher.reload();
  t.notOk(app.dispatcher.subscribers().includes("live"), "the poll does not bring it back");
  t.equal(receiver.requests.length, 2, "nothing is delivered once deleted");
  t.same(await app.redis.xinfo("GROUPS", app.keys.stream), [], "the dispatcher did not recreate the deleted group");
});

t.test("a subscriber created at runtime gets events appended after it", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  await publish(app);
  await createSubscriber(app, { name: "late", url: receiver.url, start_from: "latest" });
  const id = await publish(app);
  const [req] = await receiver.waitFor(1, 5000);
  t.equal(req!.headers["webhook-id"], id);
});

t.test("redeliver makes one new attempt of a dead letter; on success the dead letter is resolved", async (t) => {
  const { app, receiver, sql } = await deliverySetup(t);
  receiver.answer = (_req, i) => ({ status: i === 0 ? 400 : 200 });
  await createSubscriber(app, { name: "fixme", url: receiver.url });
  const id = await publish(app);
  await eventually(async () => (await sql`select 1 from dead_letters`).length === 1, 5000, "a dead letter");
  const url = `/v1/subscribers/fixme/dead-letters/${id}/redeliver`;

  const res = await app.inject({ method: "POST", url, headers: auth(ADMIN_TOKEN) });
  t.equal(res.statusCode, 202);
  t.match(res.json(), { stream_message_id: id, outcome: "delivered", attempt: 2, status_code: 200, error: null });
  t.equal(receiver.requests.length, 2);
  t.equal(receiver.requests[1]!.headers["x-brain-attempt"], "2");
  t.equal(receiver.requests[1]!.body, receiver.requests[0]!.body, "the stored event is sent again");
  const [letter] = await sql`select resolved_at from dead_letters`;
  t.ok(letter!.resolved_at, "the dead letter is resolved");
  const [row] = await sql`select outcome from processed_events where stream_message_id = ${id}`;
  t.equal(row!.outcome, "delivered", "the dedup row now says delivered");

  t.equal(
    (
      await app.inject({
        method: "POST",
        url: `/v1/subscribers/nobody/dead-letters/${id}/redeliver`,
        headers: auth(ADMIN_TOKEN),
      })
    ).statusCode,
    404,
  );
  t.equal(
    (
      await app.inject({
        method: "POST",
        url: "/v1/subscribers/fixme/dead-letters/1-1/redeliver",
        headers: auth(ADMIN_TOKEN),
      })
    ).statusCode,
    404,
  );
  t.equal((await app.inject({ method: "POST", url })).statusCode, 401);
});

t.test("a failed redeliver leaves the dead letter open with the new answer", async (t) => {
  const { app, receiver, sql } = await deliverySetup(t);
  receiver.answer = () => ({ status: 422 });
  await createSubscriber(app, { name: "broken", url: receiver.url });
  const id = await publish(app);
  await eventually(async () => (await sql`select 1 from dead_letters`).length === 1, 5000, "a dead letter");
  const res = await app.inject({
    method: "POST",
    url: `/v1/subscribers/broken/dead-letters/${id}/redeliver`,
    headers: auth(ADMIN_TOKEN),
  });
  t.equal(res.statusCode, 202);
  t.match(res.json(), { outcome: "failed", status_code: 422 });
  const [letter] = await sql`select resolved_at, attempts from dead_letters`;
  t.equal(letter!.resolved_at, null);
  t.equal(letter!.attempts, 2);
});

t.test("graceful shutdown finishes requests in flight, ACKs them, and leaves the rest pending", async (t) => {
  const { app, receiver, sql } = await deliverySetup(t);
  receiver.answer = () => ({ status: 200, delayMs: 400 });
  await createSubscriber(app, { name: "closing", url: receiver.url, max_in_flight: 2 });
  // One batch, so that one read takes all six into this process's pending list.
  const batch = await app.inject({
    method: "POST",
    url: "/v1/events/batch",
    headers: auth(PUBLISH_TOKEN),
    payload: { events: Array.from({ length: 6 }, () => envelope()) },
  });
  t.equal(batch.statusCode, 202);
  await receiver.waitFor(2);
  await app.close();
  const delivered = receiver.requests.map((r) => r.headers["webhook-id"]);
  const rows = (await sql`select stream_message_id from processed_events`).map((r) => r.stream_message_id);
  t.same(rows.sort(), delivered.sort(), "every request made was recorded");
  const redis = new Redis(REDIS_URL);
  t.teardown(() => redis.disconnect());
  const summary = (await redis.xpending(app.keys.stream, "closing")) as [number];
  t.equal(Number(summary[0]), 6 - delivered.length, "the rest stays pending for another consumer");
  t.ok(delivered.length >= 2 && delivered.length < 6);
});

t.test("normal delivery: each event once, nothing left pending", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  await createSubscriber(app, { name: "calm", url: receiver.url });
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push(await publish(app));
  await receiver.waitFor(20);
  // The sentinel: all 20 were read (requested), and an entry leaves the pending list only after
  // its request was answered, so with nothing pending any repeat would already have arrived.
  await eventually(async () => (await pendingCount(app, "calm")) === 0, 5000, "all ACKed");
  t.same(
    receiver.requests.map((r) => r.headers["webhook-id"]).sort(),
    [...ids].sort(),
    "every event delivered exactly once",
  );
});

t.test("a gateway with BRAIN_ROLE=api delivers nothing; one with BRAIN_ROLE=dispatcher does", async (t) => {
  const { app: api, receiver, env } = await deliverySetup(t, { BRAIN_ROLE: "api" });
  await createSubscriber(api, { name: "split", url: receiver.url });
  const id = await publish(api);
  t.notOk(api.hasDecorator("dispatcher"), "the API-only process has no dispatcher");
  const { app: worker } = await deliverySetup(t, { ...env, BRAIN_ROLE: "dispatcher" });
  t.ok(worker.hasDecorator("dispatcher"));
  const [req] = await receiver.waitFor(1, 8000);
  t.equal(req!.headers["webhook-id"], id);
  // The marker is the worker's delivery: by then a consumer in the API process would have joined
  // the group (XREADGROUP registers it) and, started first, taken the event.
  const consumers = (await api.redis.xinfo("CONSUMERS", api.keys.stream, "split")) as unknown[][];
  t.same(
    consumers.map((c) => c[c.indexOf("name") + 1]),
    [worker.dispatcher.consumer],
    "only the dispatcher process ever read the group",
  );
  t.equal(receiver.requests.length, 1, "delivered once, by the dispatcher process");
});
