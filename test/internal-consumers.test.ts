/**
 * In-process consumers as first-class consumers (kind `internal`): registered once with their
 * group, listed by the admin API with their stats, never delivered by a dispatcher, redelivered
 * in their own process, typed and checked by a catalog, and ADR-001 at start.
 */
import t from "tap";
import postgres from "postgres";
import { Type } from "typebox";
import { defineEventCatalog, missionEvents } from "../src/catalog/index.js";
import { createEventConsumer, PermanentError, type ConsumedEvent } from "../src/index.js";
import { buildApp } from "./helpers/app.js";
import { createSubscriber, eventually, FAST_ENV, pendingCount, PROCESS_ENV, publish } from "./helpers/delivery.js";
import { ADMIN_TOKEN, testEnv, type Test } from "./helpers/env.js";
import { call, publishMany, tally } from "./helpers/gateway.js";
import { auth } from "./helpers/http.js";
import { freePort, spawnGateway } from "./helpers/processes.js";

async function setup(t: Test, overrides: Record<string, string> = {}) {
  const { app, env } = await buildApp(t, { ...FAST_ENV, LOG_LEVEL: "silent", ...overrides });
  const sql = postgres(env["DATABASE_URL"]!, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  return { app, env, sql };
}

const get = async (app: Awaited<ReturnType<typeof setup>>["app"], url: string) =>
  app.inject({ method: "GET", url, headers: auth(ADMIN_TOKEN) });

t.test("the admin API lists an internal consumer with its kind and stats, and refuses to reconfigure it", async (t) => {
  const { app, env } = await setup(t, { BRAIN_ROLE: "api" });
  const seen: string[] = [];
  const consumer = createEventConsumer({
    name: "audit-log",
    env,
    handlers: {
      "mission.*": async (e: ConsumedEvent) => {
        if ((e.event.payload as { fail?: boolean }).fail === true) throw new PermanentError("unusable");
        seen.push(e.streamMessageId);
      },
    },
  });
  t.teardown(() => consumer.stop(1000));
  await consumer.start();
  await publish(app, { type: "mission.created" });
  await publish(app, { type: "mission.failed", payload: { fail: true } });
  await publish(app, { type: "other.thing" });
  await eventually(async () => seen.length === 1 && (await pendingCount(app, "audit-log")) === 0);
  const one = (await get(app, "/v1/subscribers/audit-log")).json();
  t.match(one, { name: "audit-log", kind: "internal", url: null, event_types: ["mission.*"], enabled: true });
  t.match(one.stats, { pending: 0, lag: 0, delivered: 1, dead_lettered: 1 });
  const list = (await get(app, "/v1/subscribers")).json();
  t.same(
    list.subscribers.map((s: { name: string; kind: string }) => [s.name, s.kind]),
    [["audit-log", "internal"]],
  );
  for (const [method, url, payload] of [
    ["PATCH", "/v1/subscribers/audit-log", { enabled: false }],
    ["POST", "/v1/subscribers/audit-log/rotate-secret", undefined],
    ["DELETE", "/v1/subscribers/audit-log/previous-secrets", undefined],
  ] as const) {
    const res = await app.inject({ method, url, headers: auth(ADMIN_TOKEN), ...(payload ? { payload } : {}) });
    t.equal(res.statusCode, 409, `${method} ${url}`);
    t.match(res.json().message, /internal consumer/);
  }
  const taken = await app.inject({
    method: "POST",
    url: "/v1/subscribers",
    headers: auth(ADMIN_TOKEN),
    payload: { name: "audit-log", url: "https://example.com/hook", event_types: ["*"] },
  });
  t.equal(taken.statusCode, 409, "a webhook cannot take an internal consumer's name");
});

t.test("an internal consumer cannot take a webhook subscriber's name", async (t) => {
  const { app, env } = await setup(t, { BRAIN_ROLE: "api" });
  await createSubscriber(app, { name: "billing", url: "http://127.0.0.1:9/hook" });
  const consumer = createEventConsumer({ name: "billing", env, handlers: { "*": async () => {} } });
  t.teardown(() => consumer.stop(1000));
  await t.rejects(consumer.start(), { statusCode: 409, message: /webhook subscriber is named billing/ });
});

t.test("redeliver of an internal consumer's dead letter re-runs it in that consumer", async (t) => {
  const { app, env, sql } = await setup(t, { BRAIN_ROLE: "api" });
  let healthy = false;
  const calls: number[] = [];
  const consumer = createEventConsumer({
    name: "projector",
    env,
    handlers: {
      "*": async (e: ConsumedEvent) => {
        calls.push(e.attempt);
        if (!healthy) throw new PermanentError("projection table missing");
      },
    },
  });
  t.teardown(() => consumer.stop(1000));
  await consumer.start();
  const id = await publish(app);
  await eventually(async () => (await sql`select 1 from dead_letters where subscriber_name = 'projector'`).length);
  healthy = true;
  const url = `/v1/subscribers/projector/dead-letters/${id}/redeliver`;
  const res = await app.inject({ method: "POST", url, headers: auth(ADMIN_TOKEN) });
  t.equal(res.statusCode, 202);
  t.same(res.json(), { stream_message_id: id, outcome: "queued", attempt: 2, status_code: null, error: null });
  const [letter] = await eventually(async () => {
    const rows = await sql`select * from dead_letters where subscriber_name = 'projector' and resolved_at is not null`;
    return rows.length > 0 && rows;
  });
  t.equal(letter!["attempts"], 2);
  t.same(calls, [1, 2], "the handler ran again, in the consumer's process, with the next attempt number");
  const [dedup] = await sql`select outcome from processed_events where subscriber_name = 'projector'`;
  t.equal(dedup!["outcome"], "delivered");
  const log = await sql`select 1 from delivery_attempts where subscriber_name = 'projector'`;
  t.equal(log.length, 0, "the delivery log holds HTTP attempts only");
});

t.test("several processes starting one consumer create its group once and share the events", async (t) => {
  const { app, env } = await setup(t, { BRAIN_ROLE: "api" });
  const before = await publish(app);
  const seen: string[] = [];
  const handlers = { "*": async (e: ConsumedEvent) => void seen.push(e.streamMessageId) };
  const consumers = Array.from({ length: 3 }, () =>
    createEventConsumer({ name: "shared", env, handlers, startFrom: "earliest" }),
  );
  for (const c of consumers) t.teardown(() => c.stop(1000));
  await Promise.all(consumers.map((c) => c.start()));
  const ids = [before];
  for (let i = 0; i < 30; i++) ids.push(await publish(app));
  await eventually(() => seen.length >= ids.length, 15_000, "every event");
  await eventually(async () => (await pendingCount(app, "shared")) === 0);
  t.same(
    [...tally(seen).values()].filter((n) => n > 1),
    [],
    "no event handled twice",
  );
  t.same(new Set(seen), new Set(ids), "the event appended before start was read: the group began at earliest once");
  const groups = (await app.redis.xinfo("GROUPS", app.keys.stream)) as unknown[][];
  t.equal(groups.length, 1);
  t.ok(Number(groups[0]![groups[0]!.indexOf("consumers") + 1]) >= 2, "the processes joined one group");
  // A later start of the same consumer keeps the group where it is: startFrom applies only once.
  const late = createEventConsumer({ name: "shared", env, handlers, startFrom: "earliest" });
  t.teardown(() => late.stop(1000));
  await late.start();
  await new Promise((r) => setTimeout(r, 300));
  t.equal(seen.length, ids.length, "nothing was read again");
});

t.test("a catalog types the handlers and turns a payload that does not match into a permanent error", async (t) => {
  const { app, env, sql } = await setup(t, { BRAIN_ROLE: "api" });
  const catalog = defineEventCatalog({ ...missionEvents, "robot.moved": Type.Object({ x: Type.Number() }) });
  const failures: string[] = [];
  const consumer = createEventConsumer({
    name: "mission-board",
    env,
    catalog,
    handlers: {
      "mission.failed": async (e) => void failures.push(`${e.event.payload.mission_id}: ${e.event.payload.error}`),
    },
  });
  t.teardown(() => consumer.stop(1000));
  await consumer.start();
  await publish(app, { type: "mission.failed", payload: { mission_id: "m-1", error: "battery" } });
  const bad = await publish(app, { type: "mission.failed", payload: { mission: "m-2" } });
  const [letter] = await eventually(async () => {
    const rows = await sql`select * from dead_letters where subscriber_name = 'mission-board'`;
    return rows.length > 0 && rows;
  });
  t.same(failures, ["m-1: battery"]);
  t.match(letter, { stream_message_id: bad, reason: "permanent_error", last_error: /does not match the catalog/ });
});

t.test("ADR-001: in required mode start() rejects when Redis or Postgres cannot be reached", async (t) => {
  const env = await testEnv(t, { LOG_LEVEL: "silent" });
  const closed = await freePort();
  const handlers = { "*": async () => {} };
  const noRedis = createEventConsumer({ name: "adr", env, handlers, redisUrl: `redis://:pw@127.0.0.1:${closed}` });
  await t.rejects(noRedis.start(), {
    message: new RegExp(`cannot reach Redis at redis://:\\*\\*\\*\\*@127.0.0.1:${closed}`),
  });
  await noRedis.stop(100);
  const noPg = createEventConsumer({
    name: "adr",
    env,
    handlers,
    databaseUrl: `postgres://postgres@127.0.0.1:${closed}/postgres`,
  });
  await t.rejects(noPg.start(), { message: /cannot reach Postgres at postgres:\/\/postgres@127.0.0.1/ });
  await noPg.stop(100);
  const degraded = createEventConsumer({
    name: "adr",
    env: { ...env, BRAIN_EVENTSTREAM_MODE: "degraded" },
    handlers,
    redisUrl: `redis://127.0.0.1:${closed}`,
  });
  await degraded.start();
  t.pass("degraded mode starts and keeps trying");
  await degraded.stop(100);
  t.throws(() => createEventConsumer({ name: "Bad Name", env, handlers }), TypeError);
  t.throws(() => createEventConsumer({ name: "ok", env, handlers: { "*.created": async () => {} } }), TypeError);
  t.throws(() => createEventConsumer({ name: "ok", env, handlers: {} }), TypeError);
});

t.test(
  "a gateway with BRAIN_ROLE=all and an in-process consumer: each event once to the handler, no webhook attempt",
  async (t) => {
    const env = await testEnv(t, { ...PROCESS_ENV, BRAIN_ROLE: "all" });
    const gateway = await spawnGateway(t, env);
    const seen: string[] = [];
    const consumer = createEventConsumer({
      name: "in-process",
      env: { ...env, LOG_LEVEL: "silent" },
      handlers: { "*": async (e: ConsumedEvent) => void seen.push(e.streamMessageId) },
    });
    t.teardown(() => consumer.stop(1000));
    await consumer.start();
    const ids = await publishMany(gateway.url, 200);
    await eventually(() => seen.length >= ids.length, 20_000, "every event");
    const stats = await eventually(async () => {
      const { body } = await call(gateway.url, "GET", "/v1/subscribers/in-process");
      return body.stats.pending === 0 && body.stats.delivered === ids.length && body.stats;
    });
    t.equal(stats.dead_lettered, 0);
    t.same(new Set(seen), new Set(ids));
    t.equal(seen.length, ids.length, "exactly once");
    const log = await call(gateway.url, "GET", "/v1/subscribers/in-process/deliveries");
    t.same(log.body.deliveries, [], "the gateway's dispatcher made no webhook attempt");
    t.notMatch(gateway.stderr(), /"subscriber":"in-process"/, "the dispatcher never took the consumer up");
  },
);
