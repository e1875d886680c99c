/**
 * The in-process publisher runs the ingest path of HTTP: for the same input it throws exactly the
 * error body POST /v1/events (or the batch) answers, stores the same bytes, enforces the registry
 * and the catalog, replays ids, and follows ADR-001 when Redis cannot be reached.
 */
import t, { type Test } from "tap";
import { missionEvents } from "../src/catalog/index.js";
import { ConfigError } from "../src/config.js";
import { StartupError } from "../src/errors.js";
import { createEventPublisher, EventPublishError, type EventPublisher } from "../src/ingest/in-process.js";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN, REDIS_URL } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";
import { freePort, startRedis } from "./helpers/processes.js";

const LIMITS = { BRAIN_MAX_BATCH: "5", BRAIN_MAX_ENVELOPE_BYTES: "4096", BRAIN_MAX_BODY_BYTES: "65536" };
const { app, config } = await buildApp(t, { BRAIN_ROLE: "api", ...LIMITS });

/** A publisher on the app's stream with the app's limits, closed at teardown. */
function publisher<P extends EventPublisher<never> | EventPublisher>(t: Test, make: () => P): P {
  const p = make();
  t.teardown(() => p.close());
  return p;
}
const pub = publisher(t, () => createEventPublisher({ redisUrl: REDIS_URL, stream: config.stream, env: LIMITS }));

const inject = (url: string, payload: unknown) =>
  app.inject({
    method: "POST",
    url,
    headers: { ...auth(PUBLISH_TOKEN), "content-type": "application/json" },
    payload: JSON.stringify(payload),
  });
const xlen = () => app.redis.xlen(config.stream);

/** What HTTP answered and what the publisher threw, side by side. */
async function bothRefuse(
  t: Test,
  what: string,
  http: () => Promise<{ json(): unknown }>,
  call: () => Promise<unknown>,
) {
  const answer = (await http()).json() as { statusCode: number; code: string; message: string; details?: unknown[] };
  const thrown = await call().then(
    () => null,
    (err: unknown) => err,
  );
  t.type(thrown, EventPublishError, `${what}: the publisher throws`);
  const err = thrown as EventPublishError;
  t.same(
    { statusCode: err.statusCode, code: err.code, message: err.message, details: err.details },
    { statusCode: answer.statusCode, code: answer.code, message: answer.message, details: answer.details ?? [] },
    `${what}: ${answer.code}`,
  );
}

await app.inject({
  method: "PUT",
  url: "/v1/event-types/mission.created",
  headers: auth(ADMIN_TOKEN),
  payload: {
    description: "",
    schema: { type: "object", required: ["mission_id"], properties: { mission_id: { type: "string" } } },
  },
});

t.test("the same bad input gets the same statusCode, code, message and details as over HTTP", async (t) => {
  const before = await xlen();
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 70; i++) deep = { a: deep };
  const badMeta = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, []]));
  const singles: [string, unknown][] = [
    ["a missing meta.producer", envelope({ meta: { schema_version: 1, source_module: "m" } })],
    ["an unknown top-level key", envelope({ extra: true })],
    ["schema_version 2", envelope({ meta: { schema_version: 2, producer: "p", source_module: "m" } })],
    ["a payload array", envelope({ payload: [] })],
    ["id null", envelope({ id: null })],
    ["30 bad meta keys", envelope({ meta: { schema_version: 1, producer: "p", source_module: "m", ...badMeta } })],
    ["a payload too deep", envelope({ payload: deep })],
    ["a number beyond 2^53", envelope({ payload: { mission_id: "m", n: 2 ** 60 } })],
    ["an envelope too large", envelope({ type: "blob", payload: { blob: "x".repeat(5000) } })],
    ["a registered type's payload off its schema", envelope({ payload: { mission_id: 7 } })],
    ["not an object", "text"],
    ["null", null],
  ];
  for (const [what, event] of singles) {
    await bothRefuse(
      t,
      what,
      () => inject("/v1/events", event),
      () => pub.publish(event as never),
    );
  }
  const good = envelope({ payload: { mission_id: "m" } });
  const batches: [string, unknown][] = [
    ["an invalid event at index 3", [good, good, good, envelope({ source: "" })]],
    ["a payload mismatch at index 1", [good, envelope({ payload: {} })]],
    ["more events than BRAIN_MAX_BATCH", Array.from({ length: 6 }, () => good)],
    ["an id twice", [envelope({ id: "d-1" }), envelope({ id: "d-1" })]],
    ["no events", []],
    ["events not a list", "many"],
    [
      "a body over BRAIN_MAX_BODY_BYTES",
      Array.from({ length: 5 }, () => envelope({ payload: { x: "y".repeat(14000) } })),
    ],
  ];
  for (const [what, events] of batches) {
    await bothRefuse(
      t,
      what,
      () => inject("/v1/events/batch", { events }),
      () => pub.publishBatch(events as never),
    );
  }
  t.equal(await xlen(), before, "nothing was written by either");
});

t.test("an accepted event is stored byte for byte as HTTP stores it", async (t) => {
  const event = envelope({
    // A key `__proto__` is data, kept as sent (JSON.parse makes it an own key, as Fastify's parser does).
    payload: JSON.parse('{"mission_id":"m-7","list":[1,2.5,"ü",null],"__proto__":{"nested":true}}'),
    target: "t-1",
    timestamp: "2026-11-26T18:00:00.000Z",
    meta: { schema_version: 1, producer: "p", source_module: "m", correlation_id: "c-1", hops: 2 },
  });
  const viaHttp = (await inject("/v1/events", event)).json();
  const viaPublisher = await pub.publish(event as never);
  t.equal(viaPublisher.replayed, false);
  const stored = async (id: string) => (await app.redis.xrange(config.stream, id, id))[0]![1];
  const [httpFields, ownFields] = [
    await stored(viaHttp.stream_message_id),
    await stored(viaPublisher.stream_message_id),
  ];
  t.equal(ownFields[0], "event", "one field, `event`");
  t.equal(
    ownFields[1]!.replace(viaPublisher.id, "<id>"),
    httpFields[1]!.replace(viaHttp.id, "<id>"),
    "the same JSON but for the assigned id",
  );
  t.match(ownFields[1], /"__proto__":\{"nested":true\}/, "the __proto__ key is stored");
  const batch = await pub.publishBatch([event, envelope({ type: "other", payload: { a: 1 } })] as never);
  t.equal(batch.length, 2);
  const page = await app.inject({ method: "GET", url: "/v1/events?limit=1000", headers: auth(ADMIN_TOKEN) });
  const ids = page.json().events.map((e: { stream_message_id: string }) => e.stream_message_id);
  t.ok(ids.includes(batch[0]!.stream_message_id) && ids.includes(batch[1]!.stream_message_id), "browsable");
});

t.test("an event id replays like a body id over HTTP; the same id with another body is 422", async (t) => {
  const before = await xlen();
  const event = envelope({ id: "in-process-1", payload: { mission_id: "m" } });
  const first = await pub.publish(event as never);
  const again = await pub.publish(event as never);
  t.same(again, { ...first, replayed: true });
  const batch = await pub.publishBatch([
    event,
    envelope({ id: "in-process-2", payload: { mission_id: "n" } }),
  ] as never);
  t.same(batch[0], { ...first, replayed: true });
  t.equal(batch[1]!.replayed, false);
  t.equal(await xlen(), before + 2, "appended once each");
  const reused = await pub
    .publish(envelope({ id: "in-process-1", payload: { mission_id: "other" } }) as never)
    .catch((err: EventPublishError) => err);
  t.match(reused, { statusCode: 422, code: "IDEMPOTENCY_KEY_REUSED" });
});

t.test("unregistered types pass unless BRAIN_REQUIRE_REGISTERED_TYPES; a catalog holds events to itself", async (t) => {
  t.equal((await pub.publish(envelope({ type: "free.type" }) as never)).replayed, false);
  const strict = publisher(t, () =>
    createEventPublisher({
      env: { ...LIMITS, REDIS_URL, BRAIN_STREAM: config.stream, BRAIN_REQUIRE_REGISTERED_TYPES: "true" },
    }),
  );
  await t.rejects(strict.publish(envelope({ type: "free.type" }) as never), {
    statusCode: 400,
    code: "UNKNOWN_EVENT_TYPE",
    details: [{ path: "/type", message: '"free.type" is not a registered event type' }],
  });
  const typed = publisher(t, () =>
    createEventPublisher({ redisUrl: REDIS_URL, stream: config.stream, catalog: missionEvents, env: LIMITS }),
  );
  const meta = { schema_version: 1, producer: "p", source_module: "m" };
  const ok = await typed.publish({
    type: "mission.failed",
    source: "q",
    payload: { mission_id: "m", error: "x" },
    meta,
  });
  t.equal(ok.replayed, false);
  await t.rejects(
    typed.publish({ type: "mission.failed", source: "q", payload: { mission_id: "m", error: 1 }, meta } as never),
    { code: "PAYLOAD_SCHEMA_MISMATCH", details: [{ path: "/payload/error", message: "must be string" }] },
    "the catalog's schema applies to a type the registry does not know",
  );
  await t.rejects(typed.publish({ type: "mission.created", source: "q", payload: { mission_id: 1 }, meta } as never), {
    code: "PAYLOAD_SCHEMA_MISMATCH",
    details: [{ path: "/payload/mission_id", message: "must be string" }],
  });
  await t.rejects(typed.publish({ type: "free.type", source: "q", payload: {}, meta } as never), {
    code: "UNKNOWN_EVENT_TYPE",
    details: [{ path: "/type", message: `"free.type" is not in this publisher's catalog` }],
  });
});

t.test("what HTTP cannot receive is INVALID_JSON; a bad environment throws at creation", async (t) => {
  await t.rejects(pub.publish({ ...envelope(), payload: { n: 1n } } as never), {
    statusCode: 400,
    code: "INVALID_JSON",
  });
  await t.rejects(pub.publish(undefined as never), { statusCode: 400, code: "INVALID_JSON" });
  t.throws(() => createEventPublisher({ env: { BRAIN_EVENTSTREAM_MODE: "optional" } }), ConfigError);
  t.throws(() => createEventPublisher({ env: {}, redisUrl: "http://x" }), /^REDIS_URL: /);
});

t.test("required mode rejects while Redis cannot be reached, every time, and never writes", async (t) => {
  const port = await freePort();
  const p = publisher(t, () => createEventPublisher({ redisUrl: `redis://:secret@127.0.0.1:${port}`, env: {} }));
  await t.rejects(p.start(), StartupError);
  const err = await p.publish(envelope() as never).catch((e: Error) => e);
  t.type(err, StartupError, "the first publish too");
  t.match(
    (err as Error).message,
    new RegExp(`cannot reach Redis at redis://:\\*\\*\\*\\*@127.0.0.1:${port}/? .*ADR-001`),
  );
  t.notMatch((err as Error).message, /secret/, "the password is masked");
  await t.rejects(p.publish(envelope() as never), StartupError, "and again: no silent success later");
});

t.test("degraded mode: STREAM_UNAVAILABLE (503) while Redis is down, published once it is back", async (t) => {
  const redis = await startRedis(t);
  await redis.stop();
  const p = publisher(t, () =>
    createEventPublisher({ redisUrl: redis.url, stream: "degraded", env: { BRAIN_EVENTSTREAM_MODE: "degraded" } }),
  );
  await p.start();
  await t.rejects(p.publish(envelope() as never), {
    name: "EventPublishError",
    statusCode: 503,
    code: "STREAM_UNAVAILABLE",
  });
  await redis.start();
  let result: unknown = null;
  for (let i = 0; i < 100 && result === null; i++) {
    result = await p.publish(envelope() as never).catch(() => null);
    if (result === null) await new Promise((r) => setTimeout(r, 100));
  }
  t.match(result, { replayed: false, stream_message_id: /^\d+-\d+$/ }, "reconnected by itself");
});

t.test("a closed publisher refuses to publish", async (t) => {
  const p = createEventPublisher({ redisUrl: REDIS_URL, stream: config.stream, env: {} });
  await p.publish(envelope({ type: "before.close" }) as never);
  await p.close();
  await p.close();
  await t.rejects(p.publish(envelope() as never), /closed/);
});
