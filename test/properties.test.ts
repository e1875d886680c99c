/**
 * Property-based contract tests: envelopes and subscriber bodies generated from the rules of the
 * schemas, hostile strings included. Valid input is accepted (2xx); input broken in one place is
 * refused with a documented 4xx in the shared error shape; nothing ever answers 5xx. Every answer
 * also passes the OpenAPI contract check of buildApp.
 */
import t from "tap";
import fc from "fast-check";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";

type Json = Record<string, unknown>;

const HOSTILE = ["valueOf", "__proto__", "constructor", "toString", "a\u0000b", "😀", "ü".repeat(100), ""];
const anyText = (maxLength: number) => fc.oneof(fc.string({ maxLength }), fc.constantFrom(...HOSTILE));
const nonEmpty = (maxLength: number) => anyText(maxLength).filter((s) => s.length > 0);
const key = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(...HOSTILE));
const scalar = fc.oneof(
  anyText(40),
  fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.double({ min: -1e9, max: 1e9, noNaN: true }),
  fc.boolean(),
  fc.constant(null),
);
const value = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  ),
})).value;

const envelope = fc.record(
  {
    id: fc.uuid(),
    type: fc.oneof(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.:-]{0,40}$/), fc.constantFrom("valueOf", "constructor")),
    source: nonEmpty(100),
    target: fc.oneof(fc.constant(null), anyText(50)),
    payload: fc.dictionary(key, value, { maxKeys: 6 }),
    timestamp: fc
      .date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true })
      .map((d) => d.toISOString()),
    meta: fc.record({
      schema_version: fc.constant(1),
      producer: nonEmpty(100),
      source_module: nonEmpty(100),
      correlation_id: fc.oneof(anyText(40), fc.integer(), fc.boolean()),
    }),
  },
  { requiredKeys: ["type", "source", "payload", "meta"] },
);

/** One way to break an envelope; each must be refused. */
const breakEnvelope: [string, (e: Json) => unknown][] = [
  ["missing type", ({ type: _, ...e }) => e],
  ["missing meta.producer", (e) => ({ ...e, meta: { schema_version: 1, source_module: "m" } })],
  ["type off its pattern", (e) => ({ ...e, type: "1 not a type" })],
  ["schema_version 2", (e) => ({ ...e, meta: { ...(e["meta"] as Json), schema_version: 2 } })],
  ["schema_version as a string", (e) => ({ ...e, meta: { ...(e["meta"] as Json), schema_version: "1" } })],
  ["payload an array", (e) => ({ ...e, payload: [] })],
  ["an unknown top-level key", (e) => ({ ...e, extra: true })],
  ["id null", (e) => ({ ...e, id: null })],
  ["timestamp not a date", (e) => ({ ...e, timestamp: "yesterday" })],
  ["a meta value that is an object", (e) => ({ ...e, meta: { ...(e["meta"] as Json), nested: {} } })],
  ["an integer beyond 2^53", (e) => ({ ...e, payload: { big: 2 ** 60 } })],
  ["an empty source", (e) => ({ ...e, source: "" })],
];

const REFUSED = [400, 413, 422];

t.test("generated envelopes: valid ones are accepted, broken ones refused with a 4xx, never a 5xx", async (t) => {
  const { app } = await buildApp(t);
  let accepted = 0;
  const post = (url: string, payload: unknown) =>
    app.inject({ method: "POST", url, headers: auth(PUBLISH_TOKEN), payload: payload as object });
  await fc.assert(
    fc.asyncProperty(envelope, fc.nat(breakEnvelope.length - 1), async (event, broken) => {
      const ok = await post("/v1/events", event);
      if (ok.statusCode !== 202) throw new Error(`valid envelope answered ${ok.statusCode}: ${ok.body}`);
      accepted++;
      const [why, mutate] = breakEnvelope[broken]!;
      const bad = await post("/v1/events", mutate(event as Json));
      if (!REFUSED.includes(bad.statusCode)) throw new Error(`${why}: answered ${bad.statusCode}: ${bad.body}`);
      const batch = await post("/v1/events/batch", { events: [{ ...event, id: undefined }, mutate(event as Json)] });
      if (batch.statusCode !== 400) throw new Error(`${why} in a batch: answered ${batch.statusCode}: ${batch.body}`);
      if (!batch.json().details?.some((d: { path: string }) => d.path.startsWith("/events/1"))) {
        throw new Error(`${why} in a batch: the details do not name /events/1: ${batch.body}`);
      }
    }),
    { numRuns: 150 },
  );
  t.equal(await app.redis.xlen(app.keys.stream), accepted, "every valid envelope was appended, nothing refused");
});

let serial = 0;
const headerName = fc
  .stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,30}$/)
  .filter((n) => !/^(webhook-|x-brain-)/i.test(n))
  .filter((n) => !/^(content-type|content-length|host|connection|keep-alive|upgrade|expect|te|trailer)$/i.test(n))
  .filter((n) => !/^(transfer-encoding|proxy-connection|proxy-authorization)$/i.test(n));
const subscriber = fc.record(
  {
    name: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,40}$/).map((n) => `${n}-${serial++}`),
    url: fc.webPath().map((p) => `http://127.0.0.1:9/${encodeURI(p.replace(/^\//, ""))}`),
    event_types: fc.uniqueArray(fc.oneof(fc.constant("*"), fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.:-]{0,30}$/)), {
      minLength: 1,
      maxLength: 5,
    }),
    description: fc.string({ maxLength: 200 }).filter((s) => !s.includes("\u0000")),
    enabled: fc.boolean(),
    max_attempts: fc.integer({ min: 1, max: 100 }),
    timeout_ms: fc.integer({ min: 1, max: 59_999 }),
    max_in_flight: fc.integer({ min: 1, max: 1000 }),
    headers: fc.dictionary(headerName, fc.stringMatching(/^[\x20-\x7e]{0,40}$/), { maxKeys: 3 }),
    start_from: fc.constantFrom("latest", "earliest"),
  },
  { requiredKeys: ["name", "url", "event_types"] },
);

/** One way to break a subscriber body; each must be refused with 400. */
const breakSubscriber: [string, (s: Json) => unknown][] = [
  ["an upper-case name", (s) => ({ ...s, name: "Billing" })],
  ["the name __proto__", (s) => ({ ...s, name: "__proto__" })],
  ["an ftp url", (s) => ({ ...s, url: "ftp://example.com/x" })],
  ["a url that is no url", (s) => ({ ...s, url: "not a url" })],
  ["a NUL in the url", (s) => ({ ...s, url: "http://127.0.0.1:9/a\u0000b" })],
  ["a NUL in the description", (s) => ({ ...s, description: "a\u0000b" })],
  ["no event types", (s) => ({ ...s, event_types: [] })],
  ["an event type off its pattern", (s) => ({ ...s, event_types: ["1bad"] })],
  ["a hop-by-hop header", (s) => ({ ...s, headers: { "Transfer-Encoding": "chunked" } })],
  ["a reserved header", (s) => ({ ...s, headers: { "webhook-id": "x" } })],
  ["a header name with a space", (s) => ({ ...s, headers: { "bad name": "x" } })],
  ["a zero timeout", (s) => ({ ...s, timeout_ms: 0 })],
  ["a timeout above the claim idle time", (s) => ({ ...s, timeout_ms: 60_000 })],
  ["max_attempts 101", (s) => ({ ...s, max_attempts: 101 })],
  ["an unknown key", (s) => ({ ...s, colour: "blue" })],
  ["a malformed secret", (s) => ({ ...s, secret: "whsec_short" })],
];

t.test("generated subscriber bodies: valid ones are created, broken ones refused with 400, never a 5xx", async (t) => {
  const { app } = await buildApp(t, { BRAIN_WEBHOOK_ALLOW_PRIVATE: "true" });
  const create = (payload: unknown) =>
    app.inject({ method: "POST", url: "/v1/subscribers", headers: auth(ADMIN_TOKEN), payload: payload as object });
  let created = 0;
  await fc.assert(
    fc.asyncProperty(subscriber, fc.nat(breakSubscriber.length - 1), async (body, broken) => {
      const [why, mutate] = breakSubscriber[broken]!;
      const bad = await create(mutate(body as Json));
      if (bad.statusCode !== 400) throw new Error(`${why}: answered ${bad.statusCode}: ${bad.body}`);
      const ok = await create(body);
      if (ok.statusCode !== 201) throw new Error(`valid subscriber answered ${ok.statusCode}: ${ok.body}`);
      created++;
      const patch = await app.inject({
        method: "PATCH",
        url: `/v1/subscribers/${body.name}`,
        headers: auth(ADMIN_TOKEN),
        payload: mutate({ description: "changed" }) as object,
      });
      if (patch.statusCode >= 500) throw new Error(`PATCH with ${why}: answered ${patch.statusCode}: ${patch.body}`);
    }),
    { numRuns: 100 },
  );
  const list = await app.inject({ method: "GET", url: "/v1/subscribers", headers: auth(ADMIN_TOKEN) });
  t.equal(list.json().subscribers.length, created, "every valid body made one subscriber, no broken one did");
});
