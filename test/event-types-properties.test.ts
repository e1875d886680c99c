/**
 * Property-based tests of the event-type registry: generated schemas, from well-formed JSON Schema
 * to junk with hostile keys, are registered (2xx) or refused with a documented 4xx, never a 5xx;
 * and generated payloads of a registered type are accepted exactly when the schema accepts them
 * (Ajv's verdict, checked independently), refused with PAYLOAD_SCHEMA_MISMATCH otherwise. Every
 * answer also passes the OpenAPI contract check of buildApp.
 */
import t from "tap";
import fc from "fast-check";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

const HOSTILE = ["__proto__", "constructor", "valueOf", "toString", "a\u0000b", "😀", "", "$ref", "$id"];
const key = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...HOSTILE));
const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -1000, max: 1000 }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(...HOSTILE),
);
const json = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    scalar,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(key, tie("value"), { maxKeys: 3 }),
  ),
})).value;

/** Schemas made of real keywords, so that many of them compile and check something. */
const schema = fc.letrec<{ schema: unknown }>((tie) => ({
  schema: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record(
      {
        type: fc.constantFrom("string", "integer", "number", "boolean", "null", "array", "object"),
        minLength: fc.nat(5),
        maxLength: fc.nat(20),
        pattern: fc.constantFrom("^a", "[0-9]", "^$", "."),
        minimum: fc.integer({ min: -10, max: 10 }),
        maximum: fc.integer({ min: -10, max: 100 }),
        enum: fc.array(scalar, { minLength: 1, maxLength: 3 }),
        const: scalar,
      },
      { requiredKeys: [] },
    ),
    fc.record(
      {
        type: fc.constant("object"),
        properties: fc.dictionary(
          key.filter((k) => k !== "__proto__"),
          tie("schema"),
          { maxKeys: 3 },
        ),
        required: fc.uniqueArray(key, { maxLength: 3 }),
        additionalProperties: fc.oneof(fc.boolean(), tie("schema")),
        patternProperties: fc.dictionary(fc.constantFrom("^a", "^__proto__$", "x"), tie("schema"), { maxKeys: 2 }),
        minProperties: fc.nat(3),
      },
      { requiredKeys: [] },
    ),
    fc.record({ anyOf: fc.array(tie("schema"), { minLength: 1, maxLength: 3 }) }),
    fc.record({ type: fc.constant("array"), items: tie("schema"), maxItems: fc.nat(5), uniqueItems: fc.boolean() }),
    fc.record({ not: tie("schema") }),
    json,
  ),
})).schema;

// An independent judge: the same dialect and rules, compiled here, in an instance per schema as the
// gateway does (one shared instance refuses a second schema with the same `$id`, even "").
const judge = () => addFormats.default(new Ajv2020({ strict: false, ownProperties: true, validateSchema: false }));

t.test("generated schemas are registered or refused with a documented 4xx; payloads get Ajv's verdict", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  let serial = 0;
  let registered = 0;
  let accepted = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(schema, fc.array(json, { minLength: 1, maxLength: 4 }), async (s, payloads) => {
      const type = `gen.t${serial++}`;
      const put = await app.inject({
        method: "PUT",
        url: `/v1/event-types/${type}`,
        headers: auth(ADMIN_TOKEN),
        payload: { description: "generated", schema: s } as object,
      });
      if (put.statusCode !== 201 && put.statusCode !== 400) {
        throw new Error(`PUT answered ${put.statusCode}: ${put.body} for ${JSON.stringify(s)}`);
      }
      if (put.statusCode === 400) return;
      registered++;
      const check = judge().compile(JSON.parse(JSON.stringify(s)));
      for (const payload of payloads) {
        // Envelopes carry objects only; a non-object generated payload is wrapped.
        const body =
          typeof payload === "object" && payload !== null && !Array.isArray(payload) ? payload : { v: payload };
        const res = await app.inject({
          method: "POST",
          url: "/v1/events",
          headers: { ...auth(PUBLISH_TOKEN), "content-type": "application/json" },
          payload: JSON.stringify(envelope({ type, payload: body })),
        });
        const expected = check(body) ? 202 : 400;
        if (res.statusCode !== expected) {
          throw new Error(`${JSON.stringify(body)} against ${JSON.stringify(s)}: ${res.statusCode} ${res.body}`);
        }
        if (expected === 400 && res.json().code !== "PAYLOAD_SCHEMA_MISMATCH") throw new Error(res.body);
        if (expected === 202) accepted++;
        else refused++;
      }
    }),
    // A subschema `$id` of "" (found by this property, when the judge still shared one instance).
    { numRuns: 150, examples: [[{ anyOf: [{ $id: "" }] }, [false]]] },
  );
  t.comment(`${registered} schemas registered; ${accepted} payloads accepted, ${refused} refused`);
  t.ok(registered > 20 && accepted > 0 && refused > 0, "the generators reach every outcome");
});
