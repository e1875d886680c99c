import t, { type Test } from "tap";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

t.test("envelope values: exact numbers and keys that look like prototypes", async (t) => {
  const { app, config } = await buildApp(t, { BRAIN_ROLE: "api" });
  const post = (payload: unknown) =>
    app.inject({
      method: "POST",
      url: "/v1/events",
      headers: { ...auth(PUBLISH_TOKEN), "content-type": "application/json" },
      payload: JSON.stringify(payload),
    });
  async function accepts(t: Test, body: unknown, what: string) {
    const res = await post(body);
    t.equal(res.statusCode, 202, res.statusCode === 202 ? what : `${what}: ${res.body}`);
    return res.json();
  }

  t.test("numbers beyond ±(2^53 − 1) anywhere are refused with their JSON pointer, not rounded", async (t) => {
    const raw = (payload: string, meta = "") =>
      `{"type":"x","source":"s","payload":${payload},"meta":{"schema_version":1,"producer":"p",` +
      `"source_module":"m"${meta}}}`;
    const cases: [string, string, string][] = [
      [raw('{"amount":12345678901234567890}'), "/payload/amount", "the issue's example"],
      [raw('{"a":[1,{"b":-1e300}]}'), "/payload/a/1/b", "inside arrays, negative, a float"],
      [raw('{"a/b":{"~":9007199254740992}}'), "/payload/a~1b/~0", "2^53, keys escaped"],
      [raw("{}", ',"hops":1e20'), "/meta/hops", "in meta"],
    ];
    for (const [body, path, name] of cases) {
      const res = await app.inject({
        method: "POST",
        url: "/v1/events",
        headers: { ...auth(PUBLISH_TOKEN), "content-type": "application/json" },
        payload: body,
      });
      t.equal(res.statusCode, 400, name);
      t.match(res.json(), { code: "INVALID_ENVELOPE", message: new RegExp(`^${path.replace("~", "~")} .*string`) });
      t.same(
        res.json().details.map((d: { path: string }) => d.path),
        [path],
        name,
      );
    }
    const batch = await app.inject({
      method: "POST",
      url: "/v1/events/batch",
      headers: { ...auth(PUBLISH_TOKEN), "content-type": "application/json" },
      payload: `{"events":[${raw("{}")},${raw('{"n":[18446744073709551615]}')}]}`,
    });
    t.equal(batch.statusCode, 400);
    t.equal(batch.json().details[0].path, "/events/1/payload/n/0");
    const edge = await accepts(
      t,
      envelope({ payload: { max: 9007199254740991, min: -9007199254740991 } }),
      "±(2^53 − 1)",
    );
    const [[, fields] = ["", []]] = await app.redis.xrange(
      config.stream,
      edge.stream_message_id,
      edge.stream_message_id,
    );
    t.match(fields[1], /"max":9007199254740991,"min":-9007199254740991/, "stored exactly");
    await accepts(t, envelope({ payload: { amount: "12345678901234567890" } }), "as a string");
  });

  t.test("__proto__ and constructor keys in a payload are kept as data and round-trip byte for byte", async (t) => {
    const payload = '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"x":1}';
    const body =
      `{"id":"proto-1","type":"mission.created","source":"s","payload":${payload},` +
      `"timestamp":"2026-11-30T00:00:00.000Z","meta":{"schema_version":1,"producer":"p","source_module":"m",` +
      `"__proto__":"kept"}}`;
    const res = await app.inject({
      method: "POST",
      url: "/v1/events",
      headers: { ...auth(PUBLISH_TOKEN), "content-type": "application/json" },
      payload: body,
    });
    t.equal(res.statusCode, 202, res.body);
    t.equal(({} as Record<string, unknown>)["polluted"], undefined, "Object.prototype is not polluted");
    t.equal(Object.prototype.constructor, Object);
    const expected = body.replace('"source":"s",', '"source":"s","target":null,');
    const id = res.json().stream_message_id;
    const [[, fields] = ["", []]] = await app.redis.xrange(config.stream, id, id);
    t.equal(fields[1], expected, "stored as sent (plus target null)");
    const prev = (await app.redis.xrevrange(config.stream, `(${id}`, "-", "COUNT", 1))[0]?.[0];
    const page = await app.inject({
      method: "GET",
      url: `/v1/events?limit=1${prev ? `&after=${prev}` : ""}`,
      headers: auth(ADMIN_TOKEN),
    });
    t.equal(page.statusCode, 200);
    t.ok(page.body.includes(`"event":${expected}`), "GET /v1/events shows the stored bytes");
    const top = await post(JSON.parse(`{"__proto__":{"x":1},${JSON.stringify(envelope()).slice(1)}`));
    t.equal(top.statusCode, 400, "a top-level __proto__ is an unknown key like any other");
  });
});
