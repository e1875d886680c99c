/**
 * Real gateway processes: a gateway SIGKILLed in the middle of 1,000 deliveries is replaced and
 * every event gets delivered, with duplicates only for requests in flight at the kill; two
 * gateways sharing the consumer groups deliver every event exactly once.
 */
import t from "tap";
import postgres from "postgres";
import { testEnv } from "./helpers/env.js";
import { spawnGateway } from "./helpers/processes.js";
import { PROCESS_ENV, eventually } from "./helpers/delivery.js";
import { call, deliverMarker, publishMany, tally } from "./helpers/gateway.js";
import { startReceiver } from "./helpers/receiver.js";

t.test(
  "a gateway killed mid-delivery is replaced: every event delivered, " +
    "duplicates only for requests in flight at the kill",
  async (t) => {
    const receiver = await startReceiver(t);
    receiver.answer = () => ({ status: 200, delayMs: 30 });
    const env = await testEnv(t, PROCESS_ENV);
    const sql = postgres(env["DATABASE_URL"]!, { max: 1, onnotice: () => {} });
    t.teardown(() => sql.end({ timeout: 1 }));

    const first = await spawnGateway(t, env);
    t.equal(
      (
        await call(first.url, "POST", "/v1/subscribers", {
          name: "crashy",
          url: receiver.url,
          event_types: ["*"],
          max_in_flight: 16,
        })
      ).status,
      201,
    );
    const ids = await publishMany(first.url, 1000);
    await receiver.waitFor(300, 30_000);
    first.child.kill("SIGKILL");
    await first.exited;
    const requestedBeforeKill = new Set(receiver.requests.map((r) => String(r.headers["webhook-id"])));
    const recorded = new Set(
      (await sql`select stream_message_id from processed_events`).map((r) => r.stream_message_id as string),
    );
    const inFlightAtKill = [...requestedBeforeKill].filter((id) => !recorded.has(id));
    t.ok(requestedBeforeKill.size < 1000, `killed in the middle: ${requestedBeforeKill.size} of 1000 requested`);
    t.comment(`${inFlightAtKill.length} requests were in flight (requested, not recorded) at the kill`);

    const t0 = Date.now();
    await spawnGateway(t, env);
    t.comment(`restarted in ${Date.now() - t0} ms`);
    await eventually(
      () => new Set(receiver.requests.map((r) => r.headers["webhook-id"])).size === 1000,
      60_000,
      "every event to be delivered",
    );
    t.comment(`all delivered ${Date.now() - t0} ms after the restart`);
    await eventually(
      async () => (await sql`select count(*)::int as n from processed_events`)[0]!.n === 1000,
      10_000,
      "every dedup row",
    );

    const counts = tally(receiver.requests.map((r) => String(r.headers["webhook-id"])));
    t.same([...counts.keys()].sort(), [...ids].sort(), "every event was delivered");
    const duplicates = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    t.ok(
      duplicates.every((id) => inFlightAtKill.includes(id)),
      `the ${duplicates.length} duplicates were all in flight at the kill`,
    );
    const reclaimed = receiver.requests.filter(
      (r) => inFlightAtKill.includes(String(r.headers["webhook-id"])) && r.headers["x-brain-attempt"] !== "1",
    );
    t.ok(duplicates.length === 0 || reclaimed.length > 0, "x-brain-attempt kept counting for reclaimed entries");
  },
);

t.test("two gateways sharing the consumer groups deliver every event exactly once", async (t) => {
  const receiver = await startReceiver(t);
  receiver.answer = () => ({ status: 200, delayMs: 5 });
  const env = await testEnv(t, PROCESS_ENV);
  const a = await spawnGateway(t, env);
  const b = await spawnGateway(t, env);
  t.equal(
    (
      await call(a.url, "POST", "/v1/subscribers", {
        name: "shared",
        url: receiver.url,
        event_types: ["*"],
        start_from: "earliest",
      })
    ).status,
    201,
  );
  const ids = [...(await publishMany(a.url, 300)), ...(await publishMany(b.url, 300))];
  await receiver.waitFor(600, 60_000);
  // Sentinel instead of a pause: any duplicate arrives before the marker settles (helpers/gateway.ts).
  ids.push(await deliverMarker(b.url, { shared: receiver }));
  const counts = tally(receiver.requests.map((r) => String(r.headers["webhook-id"])));
  t.equal(receiver.requests.length, 601, "no event was delivered twice");
  t.same([...counts.keys()].sort(), [...ids].sort(), "every event was delivered");
  const consumers = await call(a.url, "GET", "/v1/subscribers/shared");
  t.equal(consumers.body.stats.pending, 0);
});

t.test("SIGTERM: requests in flight finish and are recorded, the rest stays pending, exit code 0", async (t) => {
  const receiver = await startReceiver(t);
  receiver.answer = () => ({ status: 200, delayMs: 800 });
  const env = await testEnv(t, PROCESS_ENV);
  const sql = postgres(env["DATABASE_URL"]!, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  const gw = await spawnGateway(t, env);
  t.equal(
    (
      await call(gw.url, "POST", "/v1/subscribers", {
        name: "term",
        url: receiver.url,
        event_types: ["*"],
        max_in_flight: 2,
      })
    ).status,
    201,
  );
  await publishMany(gw.url, 6);
  await receiver.waitFor(2);
  gw.child.kill("SIGTERM");
  t.equal(await gw.exited, 0, "clean exit");
  const requested = receiver.requests.map((r) => String(r.headers["webhook-id"])).sort();
  const recorded = (await sql`select stream_message_id from processed_events`)
    .map((r) => r.stream_message_id as string)
    .sort();
  t.same(recorded, requested, "every request made before the exit was recorded (and ACKed)");
  t.ok(requested.length < 6, "the rest was left for another consumer");
});
