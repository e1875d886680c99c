/**
 * A partitioned stream on standalone Redis (BRAIN_STREAM_PARTITIONS=4): ordering_key routing,
 * partition-qualified ids in every answer and route, batches over partitions written all or
 * nothing, delivery over all partitions, and the partition count fixed for the life of a stream.
 */
import t from "tap";
import { build } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { buildApp } from "./helpers/app.js";
import { createSubscriber, deliverySetup, eventually, FAST_ENV } from "./helpers/delivery.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN, testEnv } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

const P = { BRAIN_STREAM_PARTITIONS: "4" };
const partitionOf = (id: string) => Number(id.split(":")[0]);

t.test("ingest routes by ordering_key, else by id, and answers partition-qualified ids", async (t) => {
  const { app } = await buildApp(t, P);
  const post = (payload: unknown) =>
    app.inject({ method: "POST", url: "/v1/events", headers: auth(PUBLISH_TOKEN), payload: payload as object });
  const keyed = await Promise.all(Array.from({ length: 20 }, () => post(envelope({ ordering_key: "robot-7" }))));
  const parts = new Set(keyed.map((r) => partitionOf(r.json().stream_message_id)));
  t.equal(parts.size, 1, "one ordering_key, one partition");
  const loose = await Promise.all(Array.from({ length: 40 }, (_, i) => post(envelope({ id: `loose-${i}` }))));
  t.ok(
    loose.every((r) => /^[0-3]:[0-9]+-[0-9]+$/.test(r.json().stream_message_id)),
    "ids carry their partition",
  );
  t.equal(new Set(loose.map((r) => partitionOf(r.json().stream_message_id))).size, 4, "ids spread over all four");
  const stored = await app.inject({ method: "GET", url: "/v1/events?limit=1000", headers: auth(ADMIN_TOKEN) });
  const withKey = stored.json().events.filter((e: { event: { ordering_key?: string } }) => e.event.ordering_key);
  t.equal(withKey.length, 20, "the ordering_key is stored with the envelope");

  for (const [value, why] of [
    ["", "empty"],
    ["k".repeat(257), "257 characters"],
    [42, "a number"],
    [null, "null"],
  ] as const) {
    const res = await post(envelope({ ordering_key: value }));
    t.equal(res.statusCode, 400, `ordering_key ${why}: 400`);
    t.equal(res.json().code, "INVALID_ENVELOPE");
  }
  for (const value of ["k".repeat(256), "__proto__", "valueOf", "a\u0000b"]) {
    t.equal(
      (await post(envelope({ ordering_key: value }))).statusCode,
      202,
      `ordering_key ${JSON.stringify(value).slice(0, 20)}`,
    );
  }
});

t.test(
  "an Idempotency-Key without a body id reaches its record's partition; key-less events go together",
  async (t) => {
    const { app } = await buildApp(t, P);
    const lengths = async () => Promise.all(app.keys.partitions.map((p) => app.redis.xlen(p.stream)));
    const withKey = (key: string, body = envelope()) =>
      app.inject({
        method: "POST",
        url: "/v1/events",
        headers: { ...auth(PUBLISH_TOKEN), "idempotency-key": key },
        payload: body,
      });
    // Each retry gets a new assigned id, so routing by it would miss the record 3 times out of 4.
    const first = await withKey("order-1");
    t.equal(first.statusCode, 202);
    for (let i = 0; i < 12; i++) {
      const retry = await withKey("order-1");
      t.equal(retry.statusCode, 200, `retry ${i + 1} is a replay`);
      t.equal(retry.json().stream_message_id, first.json().stream_message_id);
    }
    t.equal((await withKey("order-1", envelope({ payload: { other: 1 } }))).statusCode, 422, "another body: 422");
    t.equal(
      (await lengths()).reduce((a, b) => a + b, 0),
      1,
      "appended once",
    );

    const batch = (events: unknown[]) =>
      app.inject({ method: "POST", url: "/v1/events/batch", headers: auth(PUBLISH_TOKEN), payload: { events } });
    const seen = new Set<number>();
    for (let r = 0; r < 4; r++) {
      const res = await batch(Array.from({ length: 20 }, () => envelope()));
      t.equal(res.statusCode, 202);
      const parts = new Set(
        res.json().results.map((x: { stream_message_id: string }) => partitionOf(x.stream_message_id)),
      );
      t.equal(parts.size, 1, "a request's key-less events share one partition");
      seen.add([...parts][0] as number);
    }
    t.equal(seen.size, 4, "successive requests take the partitions in turn");
    const mixed = await batch([envelope(), envelope({ ordering_key: "robot-7" }), envelope(), envelope({ id: "m-1" })]);
    const ids = mixed.json().results.map((x: { stream_message_id: string }) => partitionOf(x.stream_message_id));
    t.equal(ids[0], ids[2], "key-less events of a mixed batch share a partition");
  },
);

t.test("a batch over partitions: a reused id anywhere appends nothing anywhere", async (t) => {
  const { app } = await buildApp(t, P);
  const lengths = async () => Promise.all(app.keys.partitions.map((p) => app.redis.xlen(p.stream)));
  const batch = (events: unknown[]) =>
    app.inject({ method: "POST", url: "/v1/events/batch", headers: auth(PUBLISH_TOKEN), payload: { events } });
  const first = await batch(Array.from({ length: 12 }, (_, i) => envelope({ id: `b-${i}` })));
  t.equal(first.statusCode, 202);
  t.equal(
    new Set(first.json().results.map((r: { stream_message_id: string }) => partitionOf(r.stream_message_id))).size,
    4,
  );
  const before = await lengths();
  const clash = await batch([
    ...Array.from({ length: 12 }, (_, i) => envelope({ id: `new-${i}` })),
    envelope({ id: "b-3", payload: { other: true } }),
  ]);
  t.equal(clash.statusCode, 422);
  t.same(clash.json().details, [
    { path: "/events/12/id", message: 'id "b-3" was accepted with a different body in the last 24 h' },
  ]);
  t.same(await lengths(), before, "no partition was appended to");
  const replay = await batch([envelope({ id: "b-3" }), envelope({ id: "fresh" })]);
  t.equal(replay.statusCode, 202);
  t.equal(replay.json().results[0].replayed, true);
  t.equal(replay.json().results[0].stream_message_id, first.json().results[3].stream_message_id);
});

t.test("delivery over all partitions, dead letters and redeliver by partition-qualified id", async (t) => {
  const { app, receiver } = await deliverySetup(t, P);
  let refuse = true;
  receiver.answer = (req) => ({ status: refuse && req.body.includes('"poison"') ? 400 : 200 });
  await createSubscriber(app, { name: "p4", url: receiver.url });
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) {
    const res = await app.inject({
      method: "POST",
      url: "/v1/events",
      headers: auth(PUBLISH_TOKEN),
      payload: envelope({ id: i === 77 ? "poison" : `d-${i}` }),
    });
    ids.push(res.json().stream_message_id);
  }
  await receiver.waitFor(200, 20_000);
  const webhookIds = receiver.requests.map((r) => String(r.headers["webhook-id"]));
  t.same([...new Set(webhookIds)].sort(), [...ids].sort(), "each event once, webhook-id = its qualified id");
  const letters = await eventually(async () => {
    const res = await app.inject({ url: "/v1/subscribers/p4/dead-letters", headers: auth(ADMIN_TOKEN) });
    return res.json().dead_letters.length === 1 && res.json().dead_letters;
  });
  t.equal(letters[0].stream_message_id, ids[77]);
  refuse = false;
  const redo = await app.inject({
    method: "POST",
    url: `/v1/subscribers/p4/dead-letters/${encodeURIComponent(ids[77]!)}/redeliver`,
    headers: auth(ADMIN_TOKEN),
  });
  t.equal(redo.statusCode, 202);
  t.equal(redo.json().outcome, "delivered");
  t.equal(redo.json().stream_message_id, ids[77]);
  const sub = await app.inject({ url: "/v1/subscribers/p4", headers: auth(ADMIN_TOKEN) });
  t.match(sub.json().stats, { pending: 0, delivered: 200 });
  const metrics = await app.inject({ url: "/metrics" });
  t.match(metrics.body, /brain_stream_partition_length\{partition="3"\} [0-9]+/);
  t.match(metrics.body, /brain_subscriber_partition_lag\{subscriber="p4",partition="0"\} 0/);

  const prefixed = await app.inject({
    method: "POST",
    url: "/v1/subscribers",
    headers: auth(ADMIN_TOKEN),
    payload: { name: "late", url: receiver.url, event_types: ["*"], start_from: "1:1-0" },
  });
  t.equal(prefixed.statusCode, 400, "start_from is a moment for every partition, not one partition's id");
  const browse = await app.inject({ url: "/v1/events?after=1-0", headers: auth(ADMIN_TOKEN) });
  t.equal(browse.statusCode, 400, "a bare cursor names no partition");
});

t.test("the partition count is fixed for the life of a stream", async (t) => {
  const env = await testEnv(t, { ...FAST_ENV, ...P, BRAIN_ROLE: "api" });
  const first = await build(loadConfig(env), false);
  await first.close();
  await t.rejects(
    build(loadConfig({ ...env, BRAIN_STREAM_PARTITIONS: "2" }), false),
    /BRAIN_STREAM_PARTITIONS is 2 but the stream \S+ was created with 4 partition\(s\)/,
  );
  const single = await testEnv(t, { ...FAST_ENV, BRAIN_ROLE: "api" });
  const one = await build(loadConfig(single), false);
  await one.inject({ method: "POST", url: "/v1/events", headers: auth(PUBLISH_TOKEN), payload: envelope() });
  await one.close();
  await t.rejects(
    build(loadConfig({ ...single, BRAIN_STREAM_PARTITIONS: "4" }), false),
    /was created with 1 partition\(s\)/,
    "a stream written before partitions existed counts as one partition",
  );
  const again = await build(loadConfig(single), false);
  t.teardown(() => again.close());
  const res = await again.inject({
    method: "POST",
    url: "/v1/events",
    headers: auth(PUBLISH_TOKEN),
    payload: envelope(),
  });
  t.match(res.json().stream_message_id, /^[0-9]+-[0-9]+$/, "one partition keeps bare ids");
});
