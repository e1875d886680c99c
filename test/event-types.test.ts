/**
 * The event-type registry's admin routes: create, replace, read, list and delete; schemas that are
 * not compilable JSON Schema 2020-12 objects refused with a reason; hostile type names and bodies;
 * the size and count bounds; admin scope only. Every answer also passes the OpenAPI contract check.
 */
import t from "tap";
import { MAX_EVENT_TYPES } from "../src/ingest/event-types.js";
import { MAX_SCHEMA_BYTES } from "../src/ingest/payload-schemas.js";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, BOTH_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";

const { app, config } = await buildApp(t, { BRAIN_ROLE: "api" });
const admin = auth(ADMIN_TOKEN);
const MISSION = {
  type: "object",
  required: ["mission_id"],
  properties: { mission_id: { type: "string", minLength: 1 }, priority: { enum: ["low", "high"] } },
};
const put = (type: string, payload: unknown, headers = admin) =>
  app.inject({ method: "PUT", url: `/v1/event-types/${type}`, headers, payload: payload as object });
const get = (type: string) => app.inject({ method: "GET", url: `/v1/event-types/${type}`, headers: admin });
const del = (type: string) => app.inject({ method: "DELETE", url: `/v1/event-types/${type}`, headers: admin });
const list = async () =>
  (await app.inject({ method: "GET", url: "/v1/event-types", headers: admin })).json().event_types as {
    type: string;
  }[];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

t.test("PUT creates (201, Location) and replaces (200, created_at kept); GET shows the entry", async (t) => {
  const created = await put("mission.created", { description: "a mission was queued", schema: MISSION });
  t.equal(created.statusCode, 201, created.body);
  t.equal(created.headers["location"], "/v1/event-types/mission.created");
  const first = created.json();
  t.same(
    { ...first, created_at: "", updated_at: "" },
    {
      type: "mission.created",
      description: "a mission was queued",
      schema: MISSION,
      deprecated: false,
      created_at: "",
      updated_at: "",
    },
  );
  t.match(first.created_at, ISO);
  t.equal(first.updated_at, first.created_at);

  await new Promise((r) => setTimeout(r, 5));
  const schema = { ...MISSION, additionalProperties: false };
  const replaced = await put("mission.created", { description: "v2", schema, deprecated: true });
  t.equal(replaced.statusCode, 200);
  t.notOk(replaced.headers["location"]);
  t.match(replaced.json(), { type: "mission.created", description: "v2", schema, deprecated: true });
  t.equal(replaced.json().created_at, first.created_at, "created_at is kept");
  t.ok(replaced.json().updated_at > first.updated_at, "updated_at moves");

  const read = await get("mission.created");
  t.equal(read.statusCode, 200);
  t.same(read.json(), replaced.json(), "GET shows what PUT answered");
});

t.test("GET lists every type sorted by type; DELETE is 204, then 404", async (t) => {
  for (const type of ["zeta.last", "Alpha.first", "mission.b", "mission.a"]) {
    t.equal((await put(type, { description: type, schema: {} })).statusCode, 201, type);
  }
  const types = (await list()).map((e) => e.type);
  t.same(types, [...types].sort(), "sorted");
  t.same(types, ["Alpha.first", "mission.a", "mission.b", "mission.created", "zeta.last"]);
  t.equal((await del("zeta.last")).statusCode, 204);
  const again = await del("zeta.last");
  t.equal(again.statusCode, 404);
  t.match(again.json(), { code: "NOT_FOUND", message: 'event type "zeta.last" is not registered' });
  t.equal((await get("zeta.last")).statusCode, 404);
  t.notOk((await list()).some((e) => e.type === "zeta.last"));
});

t.test(
  "a schema that is not a compilable JSON Schema 2020-12 object is 400 INVALID_REQUEST with a reason",
  async (t) => {
    const cases: [string, unknown, RegExp, string][] = [
      ["a boolean schema", true, /must be object/, "/schema"],
      ["an array", [], /must be object/, "/schema"],
      ["a misspelt type", { type: "strnig" }, /not valid JSON Schema 2020-12/, "/schema/type"],
      ["an unknown keyword", { type: "string", minLenght: 1 }, /unknown keyword: "minLenght"/, "/schema"],
      ["an unknown format", { type: "string", format: "emial" }, /unknown format "emial"/, "/schema"],
      ["a $ref that does not resolve", { $ref: "#/$defs/nothing" }, /can't resolve reference/, "/schema"],
      ["a remote $ref", { $ref: "https://example.com/s.json" }, /can't resolve reference/, "/schema"],
      ["a $ref to the meta-schema", { $ref: "https://json-schema.org/draft/2020-12/schema" }, /resolve/, "/schema"],
      ["draft-07", { $schema: "http://json-schema.org/draft-07/schema#" }, /must be JSON Schema 2020-12/, "/schema"],
      ["an invalid regex", { type: "string", pattern: "(" }, /pattern|regular expression|Invalid/i, "/schema"],
      ["a __proto__ property", JSON.parse('{"properties":{"__proto__":{}}}'), /__proto__/, "/schema/properties"],
      ["a bound beyond 2^53", { maximum: 2 ** 60 }, /2\^53/, "/schema/maximum"],
    ];
    for (const [what, schema, message, path] of cases) {
      const res = await put("bad.schema", { description: what, schema });
      t.equal(res.statusCode, 400, `${what}: ${res.body}`);
      const body = res.json();
      t.equal(body.code, "INVALID_REQUEST", what);
      t.match(body.message, message, what);
      t.equal(body.details?.[0]?.path, path, what);
    }
    t.equal((await get("bad.schema")).statusCode, 404, "nothing was registered");
    const ok2020 = await put("good.schema", {
      description: "",
      schema: {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        $id: "https://example.com/good",
        $defs: { id: { type: "string" } },
        properties: { id: { $ref: "#/$defs/id" } },
      },
    });
    t.equal(ok2020.statusCode, 201, `a 2020-12 schema with local $refs and an $id: ${ok2020.body}`);
    const sameId = await put("good.schema2", { description: "", schema: { $id: "https://example.com/good" } });
    t.equal(sameId.statusCode, 201, "another type may reuse an $id: each schema compiles on its own");
  },
);

t.test("the body is strict: unknown keys, a missing schema or a wrong type are 400", async (t) => {
  for (const body of [
    { schema: {} },
    { description: "x" },
    { description: "x", schema: {}, extra: 1 },
    { description: 1, schema: {} },
    { description: "x", schema: {}, deprecated: "yes" },
    { description: "x".repeat(1001), schema: {} },
  ]) {
    const res = await put("strict.body", body);
    t.equal(res.statusCode, 400, JSON.stringify(body).slice(0, 80));
    t.equal(res.json().code, "INVALID_REQUEST");
  }
  const headers = { ...admin, "content-type": "text/plain" };
  const text = await app.inject({ method: "PUT", url: "/v1/event-types/strict.body", headers, payload: "{}" });
  t.equal(text.statusCode, 415, "JSON only");
});

t.test(
  "hostile type names: off the envelope's pattern 400, Object members ordinary types, long ones 414",
  async (t) => {
    for (const type of ["__proto__", "1abc", "a%00b", "a%20b", "%C3%BC", "a;b", "-x"]) {
      const res = await put(type, { description: "", schema: {} });
      t.equal(res.statusCode, 400, `${type}: ${res.body}`);
      t.equal(res.json().code, "INVALID_REQUEST");
    }
    for (const type of ["valueOf", "constructor", "toString", "hasOwnProperty"]) {
      t.equal((await get(type)).statusCode, 404, `${type} is not registered before it is`);
      t.equal((await del(type)).statusCode, 404);
      t.equal((await put(type, { description: type, schema: { required: ["x"] } })).statusCode, 201, type);
      t.equal((await get(type)).json().description, type);
    }
    const longest = `T${"x".repeat(127)}`;
    t.equal((await put(longest, { description: "", schema: {} })).statusCode, 201, "a 128-character type");
    t.equal((await get(longest)).json().type, longest);
    const tooLong = await put(`${longest}x`, { description: "", schema: {} });
    t.equal(tooLong.statusCode, 414);
    t.equal(tooLong.json().code, "URI_TOO_LONG");
    for (const type of ["valueOf", "constructor", "toString", "hasOwnProperty", longest]) await del(type);
  },
);

t.test("descriptions and schemas keep NUL, emoji and __proto__ keys as data", async (t) => {
  const schema = JSON.parse('{"type":"object","examples":[{"__proto__":{"polluted":true}}],"description":"a\\u0000b"}');
  const res = await put("data.kept", { description: "nul \u0000 and 😀", schema });
  t.equal(res.statusCode, 201, res.body);
  const read = (await get("data.kept")).json();
  t.equal(read.description, "nul \u0000 and 😀");
  t.same(JSON.stringify(read.schema), JSON.stringify(schema), "byte for byte");
  t.equal(({} as { polluted?: boolean }).polluted, undefined, "no prototype was touched");
});

t.test("size bounds: a schema over 64 KiB is 400; the 1,001st type is 409", async (t) => {
  const big = { description: "x".repeat(MAX_SCHEMA_BYTES) };
  const res = await put("too.big", { description: "", schema: big });
  t.equal(res.statusCode, 400);
  t.match(res.json().message, /bytes as JSON; at most 65536/);
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 200; i++) deep = { not: deep };
  const tooDeep = await put("too.deep", { description: "", schema: deep });
  t.equal(tooDeep.statusCode, 400);
  t.match(tooDeep.json().message, /nests deeper than 128 levels/);

  // Hostile bodies near and over the 1 MiB limit: 60,000 keys, a 1 MiB string, 100,000 keys.
  for (const [schema, status] of [
    [Object.fromEntries(Array.from({ length: 60_000 }, (_, i) => [`k${i}`, i])), 400],
    [{ description: "x".repeat(1024 * 1024 - 100) }, 400],
    [Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])), 413],
  ] as const) {
    const started = process.cpuUsage();
    const hostile = await put("too.big", { description: "", schema });
    const cpu = process.cpuUsage(started);
    t.equal(hostile.statusCode, status, hostile.json().code);
    t.ok(hostile.body.length < 4096, `a small answer (${hostile.body.length} bytes)`);
    t.ok((cpu.user + cpu.system) / 1000 < 1000, "refused in well under a second of CPU");
  }

  const registered = (await list()).length;
  const key = `${config.stream}:event-types`;
  // Filled directly: 1,000 PUTs would compile 1,000 schemas for nothing.
  const filler = Array.from({ length: MAX_EVENT_TYPES - registered }, (_, i) => [
    `filler.${i}`,
    '{"created_at":"2026-01-01T00:00:00.000Z","description":"","schema":{},"deprecated":false,' +
      '"updated_at":"2026-01-01T00:00:00.000Z"}',
  ]);
  await app.redis.hset(key, Object.fromEntries(filler));
  const full = await put("one.more", { description: "", schema: {} });
  t.equal(full.statusCode, 409, full.body);
  t.match(full.json(), { code: "CONFLICT", message: /1000 event types are registered/ });
  t.equal((await put("mission.created", { description: "still replaceable", schema: {} })).statusCode, 200);
  await app.redis.hdel(key, ...filler.map(([type]) => type!));
  t.equal((await put("one.more", { description: "", schema: {} })).statusCode, 201, "room again after deletes");
});

t.test("the registry is admin-only: publish tokens get 403, no token 401", async (t) => {
  const routes: [string, string][] = [
    ["PUT", "/v1/event-types/scoped"],
    ["GET", "/v1/event-types"],
    ["GET", "/v1/event-types/scoped"],
    ["DELETE", "/v1/event-types/scoped"],
  ];
  for (const [method, url] of routes) {
    const payload = method === "PUT" ? { description: "", schema: {} } : undefined;
    const forbidden = await app.inject({ method: method as "GET", url, headers: auth(PUBLISH_TOKEN), payload });
    t.equal(forbidden.statusCode, 403, `${method} ${url}`);
    t.equal(forbidden.json().code, "FORBIDDEN");
    t.equal((await app.inject({ method: method as "GET", url, payload })).statusCode, 401);
  }
  t.equal((await put("scoped", { description: "", schema: {} }, auth(BOTH_TOKEN))).statusCode, 201);
  t.equal((await get("scoped")).statusCode, 200);
});
