/**
 * The catalog at run time: createEvent fills what the gateway would otherwise assign, its events
 * pass the gateway's own envelope schema, and payloads are checked even where the compiler cannot
 * see (test/types/catalog.types.ts covers the compile-time side).
 */
import t from "tap";
import { Type } from "typebox";
import { Value } from "typebox/value";
import { createEvent, defineEventCatalog, InvalidPayloadError, missionEvents } from "../src/catalog/index.js";
import { EventEnvelope } from "../src/schemas/envelope.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const from = { source: "mission_queue", producer: "mission_queue_manager", source_module: "missions" };
// The compiler would refuse the wrong payloads below; JavaScript callers and casts get past it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const loose = (payload: unknown): any => payload;

t.test("missionEvents holds the five lifecycle types", async (t) => {
  t.same(Object.keys(missionEvents).sort(), [
    "mission.cancelled",
    "mission.completed",
    "mission.created",
    "mission.failed",
    "mission.started",
  ]);
  t.ok(Object.isFrozen(missionEvents), "a catalog cannot be changed after it is defined");
  for (const [type, schema] of Object.entries(missionEvents)) {
    t.notOk(Value.Check(schema, {}), `${type} requires mission_id`);
  }
  t.notOk(Value.Check(missionEvents["mission.cancelled"], { mission_id: "m" }), "cancelled requires a reason");
  t.notOk(Value.Check(missionEvents["mission.failed"], { mission_id: "m" }), "failed requires an error");
  t.ok(Value.Check(missionEvents["mission.failed"], { mission_id: "m", error: "boom", retryable: true }));
});

t.test("createEvent fills id (UUIDv7), timestamp and meta, and passes the gateway's envelope schema", async (t) => {
  const before = Date.now();
  const event = createEvent(missionEvents, "mission.created", { mission_id: "m-1", title: "Survey" }, from);
  t.match(event.id, UUID_V7);
  t.ok(Date.parse(event.timestamp) >= before - 1 && Date.parse(event.timestamp) <= Date.now(), event.timestamp);
  t.same(event, {
    id: event.id,
    type: "mission.created",
    source: "mission_queue",
    payload: { mission_id: "m-1", title: "Survey" },
    timestamp: event.timestamp,
    meta: { schema_version: 1, producer: "mission_queue_manager", source_module: "missions" },
  });
  t.ok(Value.Check(EventEnvelope, event), "the gateway would accept it as it is");
  const other = createEvent(missionEvents, "mission.created", { mission_id: "m-1" }, from);
  t.not(other.id, event.id, "each event gets its own id");
});

t.test("createEvent keeps what the caller gives, but not over the required meta", async (t) => {
  const at = new Date("2026-11-30T12:00:00.000Z");
  const event = createEvent(
    missionEvents,
    "mission.cancelled",
    { mission_id: "m-2", reason: "operator" },
    {
      ...from,
      id: "evt-fixed-1",
      timestamp: at,
      target: "planner",
      meta: { correlation_id: "c-1", schema_version: 9, producer: "spoofed" },
    },
  );
  t.equal(event.id, "evt-fixed-1");
  t.equal(event.timestamp, "2026-11-30T12:00:00.000Z", "a Date becomes RFC 3339");
  t.equal(event.target, "planner");
  t.same(event.meta, {
    correlation_id: "c-1",
    schema_version: 1,
    producer: "mission_queue_manager",
    source_module: "missions",
  });
  t.ok(Value.Check(EventEnvelope, event));
  const text = createEvent(missionEvents, "mission.started", { mission_id: "m" }, { ...from, timestamp: "x" });
  t.equal(text.timestamp, "x", "a string timestamp is passed on as it is (the gateway judges it)");
});

t.test("createEvent checks the payload at run time too", async (t) => {
  const thrown = t.throws(() =>
    createEvent(missionEvents, "mission.failed", loose({ mission_id: 7, retryable: "no" }), from),
  ) as InvalidPayloadError;
  t.type(thrown, InvalidPayloadError);
  t.equal(thrown.type, "mission.failed");
  t.same(
    thrown.details,
    [
      { path: "/error", message: "is required" },
      { path: "/mission_id", message: "must be string" },
      { path: "/retryable", message: "must be boolean" },
    ],
    "one JSON pointer per problem, as the gateway's details",
  );
  t.match(thrown.message, /mission\.failed/);
  t.throws(() => createEvent(missionEvents, "mission.exploded" as "mission.created", { mission_id: "m" }, from), {
    message: /not in this catalog/,
  });
  t.throws(() => createEvent(missionEvents, "toString" as "mission.created", { mission_id: "m" }, from), {
    message: /not in this catalog/,
  });
});

t.test("defineEventCatalog refuses a type the gateway would reject and a value that is not a schema", async (t) => {
  for (const type of ["", "1abc", "has space", "a".repeat(129)]) {
    t.throws(() => defineEventCatalog({ [type]: Type.Object({}) }), { message: /is not valid/ }, JSON.stringify(type));
  }
  t.throws(() => defineEventCatalog({ "ok.type": loose(null) }), { message: /must be a TypeBox schema/ });
  const own = defineEventCatalog({ "invoice.paid": Type.Object({ invoice_id: Type.String() }) });
  const paid = createEvent(own, "invoice.paid", { invoice_id: "i-1" }, from);
  t.equal(paid.type, "invoice.paid");
  t.throws(() => createEvent(own, "invoice.paid", loose({}), from), InvalidPayloadError);
});
