/**
 * Payload schemas enforced at ingest (app.inject): a registered type's payload must match its
 * schema or the request is 400 PAYLOAD_SCHEMA_MISMATCH with JSON pointers (a batch naming the
 * index) and nothing is written; unregistered types pass unless BRAIN_REQUIRE_REGISTERED_TYPES
 * (then 400 UNKNOWN_EVENT_TYPE); deprecated types pass; deleting a type stops its checks.
 */
import t from "tap";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

const { app, config } = await buildApp(t, { BRAIN_ROLE: "api" });
// A second gateway on the same stream, and so the same registry, that requires registered types.
const { app: strict } = await buildApp(t, {
  BRAIN_ROLE: "api",
  BRAIN_STREAM: config.stream,
  BRAIN_REQUIRE_REGISTERED_TYPES: "true",
});

const MISSION = {
  type: "object",
  required: ["mission_id"],
  properties: {
    mission_id: { type: "string", minLength: 1 },
    priority: { enum: ["low", "normal", "high"] },
    attempt: { type: "integer", minimum: 1 },
  },
};
const register = async (type: string, schema: object, deprecated = false) => {
  const res = await app.inject({
    method: "PUT",
    url: `/v1/event-types/${type}`,
    headers: auth(ADMIN_TOKEN),
    payload: { description: type, schema, deprecated },
  });
  t.ok(res.statusCode === 201 || res.statusCode === 200, `registered ${type}: ${res.body}`);
};
const post = (event: object, gateway = app) =>
  gateway.inject({ method: "POST", url: "/v1/events", headers: auth(PUBLISH_TOKEN), payload: event });
const postBatch = (events: object[], gateway = app) =>
  gateway.inject({ method: "POST", url: "/v1/events/batch", headers: auth(PUBLISH_TOKEN), payload: { events } });
const xlen = () => app.redis.xlen(config.stream);

await register("mission.created", MISSION);

t.test("a payload that matches the registered schema is accepted and stored as sent", async (t) => {
  const event = envelope({ payload: { mission_id: "m-1", priority: "high", extra: [1, { a: null }] } });
  const res = await post(event);
  t.equal(res.statusCode, 202, res.body);
  const [entry] = await app.redis.xrange(config.stream, res.json().stream_message_id, "+", "COUNT", 1);
  t.same(JSON.parse(entry![1][1]!).payload, event["payload"]);
});

t.test(
  "a mismatch is 400 PAYLOAD_SCHEMA_MISMATCH with every problem as a pointer, and nothing is written",
  async (t) => {
    const before = await xlen();
    const res = await post(envelope({ payload: { priority: "urgent", attempt: 0 } }));
    t.equal(res.statusCode, 400);
    const body = res.json();
    t.equal(body.code, "PAYLOAD_SCHEMA_MISMATCH");
    t.same(
      body.details.map((d: { path: string }) => d.path).sort(),
      ["/payload/attempt", "/payload/mission_id", "/payload/priority"],
      "all three problems",
    );
    t.same(
      body.details.find((d: { path: string }) => d.path === "/payload/mission_id"),
      { path: "/payload/mission_id", message: "is required" },
    );
    t.match(body.message, /^body\/payload\/\S+ .*: the payload does not match the schema of "mission.created"$/);
    t.equal(await xlen(), before, "nothing was appended");
  },
);

t.test("in a batch the index is named, and one mismatch writes nothing of the batch", async (t) => {
  const before = await xlen();
  const good = envelope({ payload: { mission_id: "ok" } });
  const res = await postBatch([good, good, good, envelope({ payload: { mission_id: 42 } }), good]);
  t.equal(res.statusCode, 400);
  t.match(res.json(), {
    code: "PAYLOAD_SCHEMA_MISMATCH",
    details: [{ path: "/events/3/payload/mission_id", message: "must be string" }],
  });
  t.equal(res.json().details.length, 1);
  const two = await postBatch([envelope({ payload: {} }), good, envelope({ payload: { mission_id: "" } })]);
  t.same(
    two.json().details.map((d: { path: string }) => d.path),
    ["/events/0/payload/mission_id", "/events/2/payload/mission_id"],
  );
  t.equal(await xlen(), before, "nothing was appended");
  t.equal((await postBatch([good, envelope({ type: "other.type", payload: {} })])).statusCode, 202);
});

t.test("details stay bounded: 20 shown and the rest counted; a huge payload reports its first problem", async (t) => {
  await register("many.fields", { type: "object", additionalProperties: { type: "integer" } });
  const payload = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, "text"]));
  const res = await post(envelope({ type: "many.fields", payload }));
  t.equal(res.statusCode, 400);
  t.equal(res.json().details.length, 21);
  t.same(res.json().details[20], { path: "/", message: "30 more problems not shown" });

  const huge = Object.fromEntries(Array.from({ length: 20_500 }, (_, i) => [`k${i}`, "x"]));
  const started = process.cpuUsage();
  const big = await post(envelope({ type: "many.fields", payload: huge }));
  const cpuMs = (process.cpuUsage(started).user + process.cpuUsage(started).system) / 1000;
  t.equal(big.statusCode, 400);
  t.same(big.json().details, [
    { path: "/payload/k0", message: "must be integer" },
    { path: "/", message: "not checked further: only the first problem of a body this large is reported" },
  ]);
  t.ok(cpuMs < 1000, `refused with ${cpuMs.toFixed(0)} ms of CPU`);
});

t.test(
  "unregistered types are accepted; with BRAIN_REQUIRE_REGISTERED_TYPES they are 400 UNKNOWN_EVENT_TYPE",
  async (t) => {
    // The strict gateway learns of registrations by polling once a second, as another process would.
    await strict.eventTypes.load();
    t.ok(strict.eventTypes.lookup("mission.created"), "the strict gateway holds the registrations");
    t.equal((await post(envelope({ type: "never.registered", payload: { any: 1 } }))).statusCode, 202);
    const before = await xlen();
    const one = await post(envelope({ type: "never.registered" }), strict);
    t.equal(one.statusCode, 400);
    t.same(one.json(), {
      statusCode: 400,
      code: "UNKNOWN_EVENT_TYPE",
      error: "Bad Request",
      message: 'body/type "never.registered" is not a registered event type',
      details: [{ path: "/type", message: '"never.registered" is not a registered event type' }],
    });
    const batch = await postBatch([envelope({ payload: { mission_id: "m" } }), envelope({ type: "nope" })], strict);
    t.equal(batch.statusCode, 400);
    t.same(batch.json().details, [{ path: "/events/1/type", message: '"nope" is not a registered event type' }]);
    t.equal(await xlen(), before, "nothing was appended");
    t.equal((await post(envelope({ payload: { mission_id: "m" } }), strict)).statusCode, 202, "registered: accepted");
    const mismatch = await post(envelope({ payload: {} }), strict);
    t.equal(mismatch.json().code, "PAYLOAD_SCHEMA_MISMATCH", "and checked there too");
  },
);

t.test("deprecated types are still accepted and still checked", async (t) => {
  await register("mission.legacy", MISSION, true);
  t.equal((await post(envelope({ type: "mission.legacy", payload: { mission_id: "m" } }))).statusCode, 202);
  t.equal((await post(envelope({ type: "mission.legacy", payload: {} }))).statusCode, 400);
});

t.test("types named like Object members are ordinary; payloads are held to their own keys", async (t) => {
  t.equal((await post(envelope({ type: "constructor", payload: {} }))).statusCode, 202, "unregistered constructor");
  await register("constructor", { type: "object", required: ["toString", "valueOf"] });
  const res = await post(envelope({ type: "constructor", payload: {} }));
  t.equal(res.statusCode, 400, "{} does not have toString through Object.prototype");
  t.same(
    res.json().details.map((d: { path: string }) => d.path),
    ["/payload/toString", "/payload/valueOf"],
  );
  t.equal((await post(envelope({ type: "constructor", payload: { toString: 1, valueOf: 2 } }))).statusCode, 202);
  t.equal((await post(envelope({ type: "valueOf", payload: {} }))).statusCode, 202, "valueOf is not registered");
  await register("proto.keys", { type: "object", patternProperties: { "^__proto__$": { type: "string" } } });
  const proto = await post(
    JSON.parse(
      '{"type":"proto.keys","source":"s","payload":{"__proto__":1},"meta":' +
        '{"schema_version":1,"producer":"p","source_module":"m"}}',
    ),
  );
  t.same(proto.json().details, [{ path: "/payload/__proto__", message: "must be string" }]);
});

t.test("a deleted type is no longer checked", async (t) => {
  await register("short.lived", { type: "object", required: ["x"] });
  t.equal((await post(envelope({ type: "short.lived", payload: {} }))).statusCode, 400);
  await app.inject({ method: "DELETE", url: "/v1/event-types/short.lived", headers: auth(ADMIN_TOKEN) });
  t.equal((await post(envelope({ type: "short.lived", payload: {} }))).statusCode, 202);
});

t.test("a stored schema that no longer compiles refuses its events; a garbled entry is ignored", async (t) => {
  const key = `${config.stream}:event-types`;
  const entry = (schema: string) =>
    `{"created_at":"2026-01-01T00:00:00.000Z","description":"","schema":${schema},"deprecated":false,` +
    '"updated_at":"2026-01-01T00:00:00.000Z"}';
  await app.redis.hset(key, "broken.schema", entry('{"minLenght":1}'), "garbled", "{not json");
  await app.redis.incr(`${config.stream}:event-types:version`);
  await app.eventTypes.load();
  const res = await post(envelope({ type: "broken.schema", payload: {} }));
  t.equal(res.statusCode, 400);
  t.equal(res.json().code, "PAYLOAD_SCHEMA_MISMATCH");
  t.match(res.json().details, [{ path: "/payload", message: /cannot be compiled.*register it again/ }]);
  t.equal((await post(envelope({ type: "garbled", payload: {} }))).statusCode, 202);
  const list = await app.inject({ method: "GET", url: "/v1/event-types", headers: auth(ADMIN_TOKEN) });
  t.notOk(
    list.json().event_types.some((e: { type: string }) => e.type === "garbled"),
    "not listed",
  );
  t.equal(
    (await app.inject({ method: "GET", url: "/v1/event-types/garbled", headers: auth(ADMIN_TOKEN) })).statusCode,
    404,
  );
});
