/**
 * The event-type registry across processes and over real sockets: a change made through one
 * gateway process is enforced by another (a child `dist/server.js` on the same stream) within
 * 5 s, in both directions, deletes included; and BrainEventsClient.registerCatalog registers the
 * mission catalog so that the gateway refuses a mis-shaped mission event.
 */
import t from "tap";
import { Type } from "typebox";
import { createEvent, defineEventCatalog, missionEvents } from "../src/catalog/index.js";
import { BrainApiError, BrainEventsClient } from "../src/client/index.js";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN, testEnv } from "./helpers/env.js";
import { call } from "./helpers/gateway.js";
import { auth, envelope } from "./helpers/http.js";
import { spawnGateway } from "./helpers/processes.js";

const env = await testEnv(t, { BRAIN_ROLE: "api" });
const gw = await spawnGateway(t, { ...env, LOG_LEVEL: "silent" });
const { app, config } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_STREAM: env["BRAIN_STREAM"]! });
const schema = { type: "object", required: ["order_id"], properties: { order_id: { type: "string" } } };
const misShaped = (type: string) => envelope({ type, payload: { order_id: 42 } });
const postToChild = (event: object) => call(gw.url, "POST", "/v1/events", event, PUBLISH_TOKEN);
const postInProcess = (event: object) =>
  app.inject({ method: "POST", url: "/v1/events", headers: auth(PUBLISH_TOKEN), payload: event });

/** Posts until `done(status)`; returns the milliseconds it took. */
async function until(post: () => Promise<number>, done: (status: number) => boolean): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (done(await post())) return Date.now() - started;
    if (Date.now() - started > 15_000) throw new Error("no change within 15 s");
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test("a type registered in one process is enforced by another within 5 s, and so is its deletion", async (t) => {
  t.equal((await postToChild(misShaped("order.placed"))).status, 202, "not registered yet: accepted");
  const put = await app.inject({
    method: "PUT",
    url: "/v1/event-types/order.placed",
    headers: auth(ADMIN_TOKEN),
    payload: { description: "", schema },
  });
  t.equal(put.statusCode, 201);
  t.equal((await postInProcess(misShaped("order.placed"))).statusCode, 400, "the registering process: at once");
  const enforced = await until(
    async () => (await postToChild(misShaped("order.placed"))).status,
    (s) => s === 400,
  );
  t.ok(enforced < 5000, `the other process enforces it after ${enforced} ms`);
  const res = await postToChild(misShaped("order.placed"));
  t.same(res.body.details, [{ path: "/payload/order_id", message: "must be string" }], "over a real socket");

  await app.inject({ method: "DELETE", url: "/v1/event-types/order.placed", headers: auth(ADMIN_TOKEN) });
  const released = await until(
    async () => (await postToChild(misShaped("order.placed"))).status,
    (s) => s === 202,
  );
  t.ok(released < 5000, `the deletion reached the other process after ${released} ms`);

  const viaChild = await call(gw.url, "PUT", "/v1/event-types/order.shipped", { description: "", schema });
  t.equal(viaChild.status, 201);
  const back = await until(
    async () => (await postInProcess(misShaped("order.shipped"))).statusCode,
    (s) => s === 400,
  );
  t.ok(back < 5000, `and the other way round after ${back} ms`);
});

t.test("over a real socket a batch names the index, and a refused request writes nothing", async (t) => {
  const before = await app.redis.xlen(config.stream);
  const good = envelope({ type: "order.shipped", payload: { order_id: "o-1" } });
  const res = await call(
    gw.url,
    "POST",
    "/v1/events/batch",
    { events: [good, misShaped("order.shipped")] },
    PUBLISH_TOKEN,
  );
  t.equal(res.status, 400);
  t.same(res.body.details, [{ path: "/events/1/payload/order_id", message: "must be string" }]);
  t.equal(await app.redis.xlen(config.stream), before);
  t.equal((await postToChild(good)).status, 202);
});

t.test("registerCatalog(missionEvents) registers every mission type; a mis-shaped one is then refused", async (t) => {
  const admin = new BrainEventsClient({ baseUrl: gw.url, token: ADMIN_TOKEN, retry: false });
  const registered = await admin.registerCatalog(missionEvents);
  t.same(
    registered.map((e) => e.type),
    Object.keys(missionEvents),
  );
  t.match(registered[0], {
    type: "mission.created",
    deprecated: false,
    schema: { $schema: "https://json-schema.org/draft/2020-12/schema", type: "object", required: ["mission_id"] },
  });
  t.notOk(JSON.stringify(registered).includes("~"), "no TypeBox markers left");
  const raw = await postToChild(envelope({ type: "mission.created", payload: { title: "no id", priority: "urgent" } }));
  t.equal(raw.status, 400);
  t.equal(raw.body.code, "PAYLOAD_SCHEMA_MISMATCH");
  t.same(
    raw.body.details.sort((a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : 1)),
    [
      { path: "/payload/mission_id", message: "is required" },
      { path: "/payload/priority", message: "must match a schema in anyOf" },
    ],
    "one problem per path: the branches of an anyOf are not listed one by one",
  );
  const cancelled = await postToChild(envelope({ type: "mission.cancelled", payload: { mission_id: "m" } }));
  t.same(cancelled.body.details, [{ path: "/payload/reason", message: "is required" }]);

  const producer = new BrainEventsClient<typeof missionEvents>({ baseUrl: gw.url, token: PUBLISH_TOKEN });
  const from = { source: "mission_queue", producer: "mission_queue_manager", source_module: "missions" };
  const lifecycle = [
    createEvent(missionEvents, "mission.created", { mission_id: "m-1", priority: "high", parameters: { a: 1 } }, from),
    createEvent(missionEvents, "mission.started", { mission_id: "m-1", attempt: 1 }, from),
    createEvent(missionEvents, "mission.failed", { mission_id: "m-1", error: "boom", retryable: true }, from),
    createEvent(missionEvents, "mission.completed", { mission_id: "m-2", duration_ms: 5 }, from),
    createEvent(missionEvents, "mission.cancelled", { mission_id: "m-3", reason: "gone" }, from),
  ];
  t.equal((await producer.publishBatch(lifecycle)).length, 5, "real mission events pass the registered schemas");

  const listed = await admin.listEventTypes();
  t.ok(Object.keys(missionEvents).every((type) => listed.some((e) => e.type === type)));
  t.equal((await admin.getEventType("mission.failed")).type, "mission.failed");
  await admin.deleteEventType("mission.failed");
  const gone = await admin.getEventType("mission.failed").catch((err: unknown) => err);
  t.type(gone, BrainApiError);
  t.match(gone, { statusCode: 404, code: "NOT_FOUND" });
  const forbidden = await new BrainEventsClient({ baseUrl: gw.url, token: PUBLISH_TOKEN, retry: false })
    .registerCatalog(missionEvents)
    .catch((err: unknown) => err);
  t.match(forbidden, { statusCode: 403, code: "FORBIDDEN" }, "registering needs the admin scope");
});

t.test("a catalog's TypeBox tuples and descriptions register as JSON Schema 2020-12", async (t) => {
  const geo = defineEventCatalog({
    "geo.fix": Type.Object(
      { at: Type.Tuple([Type.Number(), Type.Number()]), label: Type.Optional(Type.String()) },
      { description: "a position fix" },
    ),
  });
  const admin = new BrainEventsClient({ baseUrl: gw.url, token: ADMIN_TOKEN, retry: false });
  const [entry] = await admin.registerCatalog(geo, { deprecated: true });
  t.match(entry, { type: "geo.fix", description: "a position fix", deprecated: true });
  t.match(entry!.schema, {
    properties: { at: { prefixItems: [{ type: "number" }, { type: "number" }], items: false } },
  });
  t.equal((await postToChild(envelope({ type: "geo.fix", payload: { at: [1.5, 2] } }))).status, 202);
  const three = await postToChild(envelope({ type: "geo.fix", payload: { at: [1, 2, 3] } }));
  t.equal(three.status, 400, "a third item is refused as TypeBox would");
  t.equal(three.body.details[0].path, "/payload/at");
});
