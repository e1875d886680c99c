/**
 * Charter C and the stream side of delivery: Standard Webhooks signatures (verified with the
 * independent `standardwebhooks` package, also during a secret rotation), type filtering, the
 * dedup guard against redelivered entries, and NOGROUP self-healing.
 */
import t from "tap";
import { Webhook } from "standardwebhooks";
import { ADMIN_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";
import { createSubscriber, deliverySetup, eventually, pendingCount, publish } from "./helpers/delivery.js";
import type { Received } from "./helpers/receiver.js";

const verify = (secret: string, r: Received) => new Webhook(secret).verify(r.body, r.headers as Record<string, string>);

t.test("deliveries are signed per Standard Webhooks and carry the x-brain headers", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  const sub = await createSubscriber(app, { name: "signed", url: receiver.url, headers: { "x-team": "billing" } });
  const id = await publish(app, { id: "evt-signed-1", type: "mission.created" });
  const [req] = await receiver.waitFor(1);
  t.ok(verify(sub.secret, req!), "standardwebhooks accepts the signature");
  t.equal(req!.headers["webhook-id"], id, "webhook-id is the stream id");
  t.ok(
    Math.abs(Number(req!.headers["webhook-timestamp"]) - Date.now() / 1000) < 10,
    "webhook-timestamp is now, in seconds",
  );
  t.match(req!.headers, {
    "content-type": "application/json",
    "x-brain-event-id": "evt-signed-1",
    "x-brain-event-type": "mission.created",
    "x-brain-subscriber": "signed",
    "x-brain-attempt": "1",
    "x-team": "billing",
  });
  const stored = (await app.redis.xrange(app.keys.stream, id, id))[0]![1][1];
  t.equal(req!.body, stored, "the body is the envelope exactly as stored");
  t.throws(() => verify(`whsec_${Buffer.alloc(32, 7).toString("base64")}`, req!), "another secret does not verify");
});

t.test("during a secret rotation both signatures are sent and either secret verifies", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  const sub = await createSubscriber(app, { name: "rotating", url: receiver.url });
  const res = await app.inject({
    method: "POST",
    url: "/v1/subscribers/rotating/rotate-secret",
    headers: auth(ADMIN_TOKEN),
  });
  t.equal(res.statusCode, 200);
  const newSecret = res.json().secret as string;
  // The rotation reaches the dispatcher through pub/sub or its poll; publish until it signs twice.
  const req = await eventually(
    async () => {
      const before = receiver.requests.length;
      await publish(app);
      const [r] = (await receiver.waitFor(before + 1)).slice(before);
      return String(r!.headers["webhook-signature"]).split(" ").length === 2 ? r : null;
    },
    8000,
    "a delivery signed with both secrets",
  );
  t.ok(verify(newSecret, req!), "the new secret verifies");
  t.ok(verify(sub.secret, req!), "the old secret still verifies");
});

t.test("events of a type the subscriber does not want are ACKed without a request or dedup row", async (t) => {
  const { app, receiver, sql } = await deliverySetup(t);
  await createSubscriber(app, { name: "picky", url: receiver.url, event_types: ["mission.created"] });
  const skipped = await publish(app, { type: "mission.deleted" });
  const wanted = await publish(app, { type: "mission.created" });
  await receiver.waitFor(1);
  await eventually(async () => (await pendingCount(app, "picky")) === 0, 5000, "nothing pending");
  t.same(
    receiver.requests.map((r) => r.headers["webhook-id"]),
    [wanted],
  );
  t.same(
    (await sql`select stream_message_id from processed_events`).map((r) => r.stream_message_id),
    [wanted],
  );
  t.not(skipped, wanted);
});

t.test("an entry redelivered after its dedup row exists is ACKed without a request", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  await createSubscriber(app, { name: "dedup", url: receiver.url });
  for (let i = 0; i < 5; i++) await publish(app);
  await receiver.waitFor(5);
  await eventually(async () => (await pendingCount(app, "dedup")) === 0);
  // Replay the whole stream to the group, as a reset or a lost XACK would.
  await app.redis.xgroup("SETID", app.keys.stream, "dedup", "0");
  const sentinel = await publish(app);
  await receiver.waitFor(6);
  await eventually(async () => (await pendingCount(app, "dedup")) === 0);
  t.equal(receiver.requests.length, 6, "only the new event was requested");
  t.equal(receiver.requests[5]!.headers["webhook-id"], sentinel);
});

t.test("a consumer group destroyed under a running gateway is recreated: nothing skipped, nothing twice", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  await createSubscriber(app, { name: "healing", url: receiver.url });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await publish(app));
  await receiver.waitFor(5);
  await eventually(async () => (await pendingCount(app, "healing")) === 0);
  await app.redis.xgroup("DESTROY", app.keys.stream, "healing");
  for (let i = 0; i < 5; i++) ids.push(await publish(app));
  await receiver.waitFor(10, 15_000);
  // Sentinel: the group reads in stream order and ACKs only after the request, so once the marker
  // was requested and nothing is pending, any repeat of an earlier entry has arrived.
  const sentinel = await publish(app);
  ids.push(sentinel);
  await receiver.waitFor(1, 15_000, (r) => r.headers["webhook-id"] === sentinel);
  await eventually(async () => (await pendingCount(app, "healing")) === 0);
  // max_in_flight delivers concurrently: the order of requests is not promised, each id once is.
  t.same(receiver.requests.map((r) => String(r.headers["webhook-id"])).sort(), [...ids].sort(), "every event once");
  const groups = (await app.redis.xinfo("GROUPS", app.keys.stream)) as unknown[][];
  t.equal(groups.length, 1, "the group exists again");
});
