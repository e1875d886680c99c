import t from "tap";
import { buildApp } from "./helpers/app.js";
import { PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

const MAX_ENVELOPE = 256 * 1024;

/**
 * An envelope without id or timestamp whose STORED form (with the gateway's UUIDv7 id and ISO
 * timestamp added) is exactly `storedBytes` long.
 */
function envelopeStoredAs(storedBytes: number): Record<string, unknown> {
  const sample = {
    id: "01936f8e-0000-7000-8000-000000000000",
    ...envelope({ payload: { blob: "" } }),
    target: null,
    timestamp: new Date().toISOString(),
  };
  const overhead = Buffer.byteLength(JSON.stringify(sample));
  return envelope({ payload: { blob: "x".repeat(storedBytes - overhead) } });
}

t.test("size limits with the defaults", async (t) => {
  const { app, config } = await buildApp(t);
  const post = (payload: string, contentType = "application/json", url = "/v1/events") =>
    app.inject({ method: "POST", url, headers: { ...auth(PUBLISH_TOKEN), "content-type": contentType }, payload });

  t.test("an envelope of exactly 256 KiB as stored is accepted, one byte more is 413 ENVELOPE_TOO_LARGE", async (t) => {
    const fits = envelopeStoredAs(MAX_ENVELOPE);
    const res = await post(JSON.stringify(fits));
    t.equal(res.statusCode, 202);
    const [[, fields] = ["", []]] = await app.redis.xrange(
      config.stream,
      res.json().stream_message_id,
      res.json().stream_message_id,
    );
    t.equal(Buffer.byteLength(fields[1]!), MAX_ENVELOPE, "the limit counts the stored bytes");

    const over = await post(JSON.stringify(envelopeStoredAs(MAX_ENVELOPE + 1)));
    t.equal(over.statusCode, 413);
    t.match(over.json(), { statusCode: 413, code: "ENVELOPE_TOO_LARGE", error: "Payload Too Large" });
  });

  t.test("the gateway-assigned id and timestamp count towards the 256 KiB", async (t) => {
    const sent = envelopeStoredAs(MAX_ENVELOPE + 1);
    t.ok(Buffer.byteLength(JSON.stringify(sent)) < MAX_ENVELOPE, "as sent it is under the limit");
    t.equal((await post(JSON.stringify(sent))).json().code, "ENVELOPE_TOO_LARGE");
  });

  t.test("size counts bytes, not characters", async (t) => {
    const res = await post(JSON.stringify(envelope({ payload: { text: "é".repeat(140 * 1024) } })));
    t.equal(res.statusCode, 413, "140 Ki two-byte characters are 280 KiB");
  });

  t.test("only application/json bodies are accepted: others are 415", async (t) => {
    const body = JSON.stringify(envelope());
    for (const type of [
      "text/plain",
      "application/xml",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
    ]) {
      const res = await post(body, type);
      t.equal(res.statusCode, 415, type);
      t.match(res.json(), { statusCode: 415, code: "UNSUPPORTED_MEDIA_TYPE", error: "Unsupported Media Type" });
    }
    t.equal((await post(body, "text/plain", "/v1/events/batch")).statusCode, 415, "batch too");
    t.equal((await post(body, "application/json; charset=utf-8")).statusCode, 202, "a charset parameter is fine");
  });

  t.test("a body that is not JSON is 400 INVALID_JSON", async (t) => {
    for (const body of ["{", "not json", '{"type":"x",}']) {
      const res = await post(body);
      t.equal(res.statusCode, 400, body);
      t.equal(res.json().code, "INVALID_JSON");
    }
  });

  t.test("a body over 1 MiB is 413 before it is parsed", async (t) => {
    const res = await post(JSON.stringify(envelope({ payload: { blob: "x".repeat(1024 * 1024) } })));
    t.equal(res.statusCode, 413);
    t.match(res.json(), { statusCode: 413, code: "BODY_TOO_LARGE" });
  });

  t.test("nothing rejected was written", async (t) => {
    t.equal(await app.redis.xlen(config.stream), 2);
  });
});

t.test("BRAIN_MAX_BODY_BYTES and BRAIN_MAX_ENVELOPE_BYTES are honoured", async (t) => {
  const { app, config } = await buildApp(t, { BRAIN_MAX_BODY_BYTES: "2048", BRAIN_MAX_ENVELOPE_BYTES: "1024" });
  const post = (body: object, url = "/v1/events") =>
    app.inject({ method: "POST", url, headers: auth(PUBLISH_TOKEN), payload: body });
  const body = await post(envelope({ payload: { blob: "x".repeat(2100) } }));
  t.equal(body.statusCode, 413);
  t.equal(body.json().code, "BODY_TOO_LARGE");
  t.match(body.json().message, /2048/);
  const env = await post(envelope({ payload: { blob: "x".repeat(1100) } }));
  t.equal(env.statusCode, 413);
  t.equal(env.json().code, "ENVELOPE_TOO_LARGE");
  const batch = await post(
    { events: [envelope(), envelope({ payload: { blob: "x".repeat(1000) } })] },
    "/v1/events/batch",
  );
  t.equal(batch.statusCode, 413, "one oversized envelope rejects the batch");
  t.same(
    batch.json().details?.map((d: { path: string }) => d.path),
    ["/events/1"],
  );
  t.equal((await post(envelope())).statusCode, 202);
  t.equal(await app.redis.xlen(config.stream), 1);
});
