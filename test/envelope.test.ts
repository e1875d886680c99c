import t, { type Test } from "tap";
import { buildApp } from "./helpers/app.js";
import { PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

const META = { schema_version: 1, producer: "mission_queue_manager", source_module: "missions" };
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A payload whose nesting is exactly `depth` levels, the payload object itself being level 1. */
function nested(depth: number): Record<string, unknown> {
  let p: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < depth; i++) p = { a: p };
  return p;
}

/** `depth` arrays inside each other, the innermost empty: [[[…]]]. */
function nestedArrays(depth: number): unknown[] {
  let a: unknown[] = [];
  for (let i = 1; i < depth; i++) a = [a];
  return a;
}

t.test("envelope validation", async (t) => {
  const { app, config } = await buildApp(t);
  let accepted = 0;
  const post = (payload: unknown) =>
    app.inject({
      method: "POST",
      url: "/v1/events",
      headers: { ...auth(PUBLISH_TOKEN), "content-type": "application/json" },
      payload: JSON.stringify(payload),
    });

  /** Posts `body` and asserts a 400 in the shared error shape with `path` among the details. */
  async function rejects(t: Test, body: unknown, path: string, code = "INVALID_ENVELOPE") {
    const res = await post(body);
    t.equal(res.statusCode, 400, res.statusCode === 400 ? path : `${path}: ${res.body}`);
    const err = res.json();
    t.match(err, { statusCode: 400, code, error: "Bad Request", message: String });
    t.ok(
      (err.details as { path: string; message: string }[] | undefined)?.some(
        (d) => d.path === path && typeof d.message === "string",
      ),
      `details name ${path}`,
    );
    return err;
  }
  async function accepts(t: Test, body: unknown, what: string) {
    const res = await post(body);
    t.equal(res.statusCode, 202, res.statusCode === 202 ? what : `${what}: ${res.body}`);
    if (res.statusCode === 202) accepted++;
    return res.json();
  }

  t.test("a valid envelope gets a UUIDv7 id, the receive time, target null, and is stored as sent", async (t) => {
    const before = Date.now();
    const res = await accepts(t, envelope(), "minimal");
    t.match(res.id, UUID_V7);
    const entries = await app.redis.xrange(config.stream, res.stream_message_id, res.stream_message_id);
    const fields = entries[0]?.[1];
    t.equal(fields![0], "event", "one field named event");
    const stored = JSON.parse(fields![1]!);
    t.same(stored, { ...envelope(), id: res.id, target: null, timestamp: stored.timestamp });
    t.ok(
      Date.parse(stored.timestamp) >= before - 1000 && Date.parse(stored.timestamp) <= Date.now() + 1000,
      "receive time",
    );
    const own = await accepts(
      t,
      envelope({ id: "evt-1", target: "agent_7", timestamp: "2026-11-26T18:00:00.000Z" }),
      "all fields",
    );
    t.equal(own.id, "evt-1", "a client id is kept");
  });

  t.test("id: 1-64 chars of [A-Za-z0-9._:-], never null", async (t) => {
    await accepts(t, envelope({ id: "a".repeat(64) }), "64 chars");
    await accepts(t, envelope({ id: "Az09._:-x" }), "every allowed character class");
    for (const id of ["", "a".repeat(65), "has space", "slash/id", "ünïcode", null, 42])
      await rejects(t, envelope({ id }), "/id");
  });

  t.test("type: required, 1-128 chars, starts with a letter, [A-Za-z0-9_.:-]", async (t) => {
    for (const type of ["MISSION_CREATED", "mission.created:v2-beta", "x", "a".repeat(128)])
      await accepts(t, envelope({ type }), type);
    for (const type of ["", "1mission", "_x", "mission created", "a".repeat(129), "mission/created", null, 7]) {
      await rejects(t, envelope({ type }), "/type");
    }
    const { type: _, ...withoutType } = envelope();
    await rejects(t, withoutType, "/type");
  });

  t.test("source: required, 1-255 characters counted as code points", async (t) => {
    await accepts(t, envelope({ source: "s".repeat(255) }), "255 chars");
    await accepts(t, envelope({ source: "😀".repeat(255) }), "255 astral code points (510 UTF-16 units)");
    for (const source of ["", "s".repeat(256), "😀".repeat(256), null, 1])
      await rejects(t, envelope({ source }), "/source");
    const { source: _, ...withoutSource } = envelope();
    await rejects(t, withoutSource, "/source");
  });

  t.test("target: optional string or null, nothing else", async (t) => {
    await accepts(t, envelope({ target: null }), "null");
    await accepts(t, envelope({ target: "agent_7" }), "string");
    for (const target of [5, {}, [], true]) await rejects(t, envelope({ target }), "/target");
  });

  t.test("payload: a required JSON object", async (t) => {
    await accepts(t, envelope({ payload: {} }), "empty object");
    for (const payload of [[], "x", 1, null, true]) await rejects(t, envelope({ payload }), "/payload");
    const { payload: _, ...withoutPayload } = envelope();
    await rejects(t, withoutPayload, "/payload");
  });

  t.test("timestamp: optional RFC 3339 date-time, never null", async (t) => {
    for (const timestamp of ["2026-11-26T18:00:00.000Z", "2026-11-26T18:00:00Z", "2026-11-26T20:00:00.123456+02:00"]) {
      await accepts(t, envelope({ timestamp }), timestamp);
    }
    for (const timestamp of [
      "2026-11-26T18:00:00",
      "2026-13-01T00:00:00Z",
      "2026-11-26",
      "yesterday",
      "",
      null,
      1764180000,
    ]) {
      await rejects(t, envelope({ timestamp }), "/timestamp");
    }
  });

  t.test("meta: required, with schema_version, producer and source_module typed", async (t) => {
    const { meta: _, ...withoutMeta } = envelope();
    await rejects(t, withoutMeta, "/meta");
    await rejects(t, envelope({ meta: null }), "/meta");
    await rejects(t, envelope({ meta: "v1" }), "/meta");
    for (const key of ["schema_version", "producer", "source_module"] as const) {
      const { [key]: _omit, ...rest } = META;
      await rejects(t, envelope({ meta: rest }), `/meta/${key}`);
      await rejects(t, envelope({ meta: { ...META, [key]: null } }), `/meta/${key}`);
    }
    for (const schema_version of ["1", 1.5, true])
      await rejects(t, envelope({ meta: { ...META, schema_version } }), "/meta/schema_version");
    for (const key of ["producer", "source_module"] as const) {
      for (const value of ["", "p".repeat(256), "😀".repeat(256), 3, false])
        await rejects(t, envelope({ meta: { ...META, [key]: value } }), `/meta/${key}`);
      await accepts(t, envelope({ meta: { ...META, [key]: "😀".repeat(255) } }), `${key} of 255 astral code points`);
    }
  });

  t.test("meta.schema_version other than 1 is 400 naming the supported versions", async (t) => {
    for (const schema_version of [2, 0, -1]) {
      const err = await rejects(
        t,
        envelope({ meta: { ...META, schema_version } }),
        "/meta/schema_version",
        "UNSUPPORTED_SCHEMA_VERSION",
      );
      t.match(err.message, /supported versions: 1/);
    }
  });

  t.test("extra meta keys may be strings, numbers or booleans, not objects, arrays or null", async (t) => {
    await accepts(
      t,
      envelope({
        meta: {
          ...META,
          correlation_id: "c-1",
          causation_id: "e-0",
          traceparent: "00-ab-cd-01",
          hops: 3,
          replay: false,
        },
      }),
      "scalars",
    );
    for (const value of [{ nested: 1 }, ["a"], null])
      await rejects(t, envelope({ meta: { ...META, extra: value } }), "/meta/extra");
  });

  t.test("unknown top-level keys are rejected, not stripped", async (t) => {
    const err = await rejects(t, envelope({ data: { x: 1 } }), "/data");
    t.match(err.message, /data/);
    await rejects(t, envelope({ Type: "x" }), "/Type");
  });

  t.test("every error is reported at once, each with its JSON pointer", async (t) => {
    const { type: _, ...rest } = envelope({ meta: { ...META, producer: 1 }, payload: [] });
    const err = await rejects(t, rest, "/type");
    const paths = (err.details as { path: string }[]).map((d) => d.path);
    t.ok(paths.includes("/meta/producer") && paths.includes("/payload"), JSON.stringify(paths));
  });

  t.test("payload nesting: 64 levels accepted, 65 is 400 PAYLOAD_TOO_DEEP", async (t) => {
    await accepts(t, envelope({ payload: nested(64) }), "64 levels");
    await rejects(t, envelope({ payload: nested(65) }), "/payload", "PAYLOAD_TOO_DEEP");
    await rejects(
      t,
      envelope({
        payload: {
          list: nestedArrays(66),
        },
      }),
      "/payload",
      "PAYLOAD_TOO_DEEP",
    );
  });

  t.test("100,000 levels of hostile JSON are refused without crashing the process", async (t) => {
    const meta = JSON.stringify(META);
    // Each body stays under the 1 MiB limit, so it reaches the parser and the validator.
    const deep = (open: string, close: string, n = 100_000) =>
      `{"type":"x","source":"s","meta":${meta},"payload":{"a":${open.repeat(n)}{}${close.repeat(n)}}}`;
    for (const [name, body, code] of [
      ["objects", deep('{"a":', "}"), "PAYLOAD_TOO_DEEP"],
      ["arrays", deep("[", "]"), "PAYLOAD_TOO_DEEP"],
      ["__proto__ keys", deep('{"__proto__":', "}", 60_000), undefined],
    ] as const) {
      const started = Date.now();
      const res = await app.inject({
        method: "POST",
        url: "/v1/events",
        headers: { ...auth(PUBLISH_TOKEN), "content-type": "application/json" },
        payload: body,
      });
      t.equal(res.statusCode, 400, `${name}: ${res.body.slice(0, 200)}`);
      if (code !== undefined) t.equal(res.json().code, code);
      t.ok(Date.now() - started < 5000, `${name} answered promptly`);
    }
    await accepts(t, envelope(), "the gateway still serves afterwards");
  });

  t.test("null is accepted only for target", async (t) => {
    for (const key of ["id", "type", "source", "payload", "timestamp", "meta"])
      await rejects(t, envelope({ [key]: null }), `/${key}`);
  });

  t.test("bad input never writes to the stream", async (t) => {
    t.equal(await app.redis.xlen(config.stream), accepted, `only the ${accepted} accepted envelopes were appended`);
  });
});
