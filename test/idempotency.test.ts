import t from "tap";
import { credentialId } from "../src/plugins/auth.js";
import { buildApp } from "./helpers/app.js";
import { BOTH_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

t.test("ingest idempotency", async (t) => {
  const { app, config } = await buildApp(t);
  const post = (body: object, key?: string) =>
    app.inject({
      method: "POST",
      url: "/v1/events",
      headers: { ...auth(PUBLISH_TOKEN), ...(key === undefined ? {} : { "idempotency-key": key }) },
      payload: body,
    });
  const xlen = () => app.redis.xlen(config.stream);

  t.test("20 concurrent identical requests with one Idempotency-Key append exactly once", async (t) => {
    const before = await xlen();
    const body = envelope({ payload: { race: true } });
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(body, "race-key-1")));
    const created = answers.filter((r) => r.statusCode === 202);
    const replayed = answers.filter((r) => r.statusCode === 200);
    t.equal(created.length, 1, "one 202");
    t.equal(replayed.length, 19, "nineteen 200");
    t.ok(
      replayed.every((r) => r.headers["idempotent-replayed"] === "true"),
      "every replay says so",
    );
    t.equal(created[0]!.headers["idempotent-replayed"], undefined, "the original does not");
    const ids = new Set(answers.map((r) => r.json().stream_message_id));
    const eventIds = new Set(answers.map((r) => r.json().id));
    t.equal(ids.size, 1, "all carry the same stream id");
    t.equal(eventIds.size, 1, "and the same event id");
    t.equal(await xlen(), before + 1, "exactly one stream entry");
  });

  t.test("a body id alone replays: the same event is not appended twice", async (t) => {
    const before = await xlen();
    const first = await post(envelope({ id: "evt-body-1" }));
    const again = await post(envelope({ id: "evt-body-1" }));
    t.equal(first.statusCode, 202);
    t.equal(again.statusCode, 200);
    t.equal(again.headers["idempotent-replayed"], "true");
    t.same(again.json(), first.json());
    t.equal(await xlen(), before + 1);
  });

  t.test("the same Idempotency-Key with a different body is 422 IDEMPOTENCY_KEY_REUSED", async (t) => {
    const before = await xlen();
    t.equal((await post(envelope({ payload: { v: 1 } }), "reuse-key")).statusCode, 202);
    const res = await post(envelope({ payload: { v: 2 } }), "reuse-key");
    t.equal(res.statusCode, 422);
    t.match(res.json(), { statusCode: 422, code: "IDEMPOTENCY_KEY_REUSED", error: "Unprocessable Entity" });
    t.equal(await xlen(), before + 1, "the reused key appended nothing");
    t.equal((await post(envelope({ payload: { v: 2 } }), "another-key")).statusCode, 202, "another key is a new event");
  });

  t.test("a body id reused for a different event is 422 too", async (t) => {
    t.equal((await post(envelope({ id: "evt-body-2", payload: { v: 1 } }))).statusCode, 202);
    const res = await post(envelope({ id: "evt-body-2", payload: { v: 2 } }));
    t.equal(res.statusCode, 422);
    t.equal(res.json().code, "IDEMPOTENCY_KEY_REUSED");
  });

  t.test("the header wins over the body id, and the key expires after 24 h", async (t) => {
    const first = await post(envelope({ id: "evt-hdr-1" }), "hdr-key-1");
    const second = await post(envelope({ id: "evt-hdr-1" }), "hdr-key-2");
    t.equal(first.statusCode, 202);
    t.equal(second.statusCode, 202, "a new header key is a new request even with the same body id");
    const ttl = await app.redis.ttl(
      app.keys.partitions[0]!.idempotency(credentialId(PUBLISH_TOKEN), "key", "hdr-key-1"),
    );
    t.ok(ttl > 86_000 && ttl <= 86_400, `TTL ${ttl} s is 24 h`);
  });

  t.test("a malformed Idempotency-Key header is 400 and writes nothing", async (t) => {
    const before = await xlen();
    for (const key of ["has space", "k".repeat(256)]) {
      const res = await post(envelope(), key);
      t.equal(res.statusCode, 400, JSON.stringify(key).slice(0, 20));
    }
    t.equal(await xlen(), before);
  });

  t.test("a batch does not re-append ids seen in the last 24 h and marks them replayed", async (t) => {
    const single = await post(envelope({ id: "batch-seen-1" }));
    const before = await xlen();
    const res = await app.inject({
      method: "POST",
      url: "/v1/events/batch",
      headers: auth(PUBLISH_TOKEN),
      payload: { events: [envelope({ id: "batch-new-1" }), envelope({ id: "batch-seen-1" }), envelope()] },
    });
    t.equal(res.statusCode, 202);
    const { results } = res.json() as { results: { id: string; stream_message_id: string; replayed?: boolean }[] };
    t.same(
      results.map((r) => [r.id, r.replayed ?? false]),
      [
        ["batch-new-1", false],
        ["batch-seen-1", true],
        [results[2]!.id, false],
      ],
    );
    t.equal(results[1]!.stream_message_id, single.json().stream_message_id, "the original stream id");
    t.equal(await xlen(), before + 2);

    const repeat = await app.inject({
      method: "POST",
      url: "/v1/events/batch",
      headers: auth(PUBLISH_TOKEN),
      payload: { events: [envelope({ id: "batch-new-1" })] },
    });
    t.same(repeat.json().results, [
      { id: "batch-new-1", stream_message_id: results[0]!.stream_message_id, replayed: true },
    ]);
    t.equal(await xlen(), before + 2, "a repeated batch appends nothing");
  });
  const batch = (events: object[], token = PUBLISH_TOKEN) =>
    app.inject({ method: "POST", url: "/v1/events/batch", headers: auth(token), payload: { events } });
  const postAs = (token: string, body: object, key?: string) =>
    app.inject({
      method: "POST",
      url: "/v1/events",
      headers: { ...auth(token), ...(key === undefined ? {} : { "idempotency-key": key }) },
      payload: body,
    });

  t.test("keys are scoped to the credential: another token's key is neither replayed nor refused", async (t) => {
    const before = await xlen();
    const mine = await postAs(PUBLISH_TOKEN, envelope({ payload: { owner: "a" } }), "scoped-key");
    t.equal(mine.statusCode, 202);
    const same = await postAs(BOTH_TOKEN, envelope({ payload: { owner: "a" } }), "scoped-key");
    t.equal(same.statusCode, 202, "the same key and body from another token is a new event, not a replay");
    t.not(same.json().stream_message_id, mine.json().stream_message_id, "and reveals nothing of the first");
    const other = await postAs(BOTH_TOKEN, envelope({ payload: { owner: "b" } }), "scoped-key-2");
    t.equal(other.statusCode, 202);
    t.equal((await postAs(PUBLISH_TOKEN, envelope({ payload: { x: 1 } }), "scoped-key-2")).statusCode, 202);
    const ids = await postAs(BOTH_TOKEN, envelope({ id: "evt-body-1", payload: { owner: "b" } }));
    t.equal(ids.statusCode, 202, "a body id another token used is free too");
    t.equal(await xlen(), before + 5);
    const keys = await app.redis.keys(`${config.stream}:idem:*`);
    t.ok(keys.length > 0);
    t.notOk(
      keys.some((k) => k.includes(PUBLISH_TOKEN) || k.includes(BOTH_TOKEN)),
      "the token itself is never part of a key",
    );
    t.ok(keys.includes(app.keys.partitions[0]!.idempotency(credentialId(BOTH_TOKEN), "key", "scoped-key")));
  });

  t.test("header keys and body ids are separate namespaces", async (t) => {
    const before = await xlen();
    t.equal((await post(envelope({ payload: { v: "header" } }), "ns-1")).statusCode, 202);
    const byId = await post(envelope({ id: "ns-1", payload: { v: "body id" } }));
    t.equal(byId.statusCode, 202, "a body id equal to a header key is not that key");
    const inBatch = await batch([envelope({ id: "ns-2" })]);
    t.equal(inBatch.statusCode, 202);
    const header = await post(envelope({ payload: { v: "other" } }), "ns-2");
    t.equal(header.statusCode, 202, "a header key equal to a body id is not that id");
    t.equal(await xlen(), before + 4);
  });

  t.test("a batch with an id accepted with a different body is 422 and writes nothing", async (t) => {
    t.equal((await post(envelope({ id: "batch-fp-1", payload: { v: 1 } }))).statusCode, 202);
    const before = await xlen();
    const res = await batch([
      envelope({ id: "batch-fp-new" }),
      envelope({ id: "batch-fp-1", payload: { v: 2 } }),
      envelope(),
    ]);
    t.equal(res.statusCode, 422);
    t.match(res.json(), { statusCode: 422, code: "IDEMPOTENCY_KEY_REUSED", error: "Unprocessable Entity" });
    t.same(
      res.json().details.map((d: { path: string }) => d.path),
      ["/events/1/id"],
    );
    t.equal(await xlen(), before, "nothing of the batch was appended");
    const again = await batch([envelope({ id: "batch-fp-new" })]);
    t.equal(again.statusCode, 202);
    t.notOk(again.json().results[0].replayed, "the new id of the refused batch was not recorded either");
    const replay = await batch([envelope({ id: "batch-fp-1", payload: { v: 1 } })]);
    t.equal(replay.json().results[0].replayed, true, "the same body is still a replay");
  });
  t.test("racing a batch against a single event with one of its ids: all of the batch or none of it", async (t) => {
    for (let i = 0; i < 20; i++) {
      const [single, both] = await Promise.all([
        post(envelope({ id: `race-x-${i}`, payload: { from: "single" } })),
        batch([envelope({ id: `race-y-${i}` }), envelope({ id: `race-x-${i}`, payload: { from: "batch" } })]),
      ]);
      const stored = (await app.redis.xrange(config.stream, "-", "+")).map(([, f]) => JSON.parse(f[1]!));
      const y = stored.filter((e) => e.id === `race-y-${i}`).length;
      const x = stored.filter((e) => e.id === `race-x-${i}`);
      t.equal(x.length, 1, `round ${i}: x appended once`);
      if (both.statusCode === 422) {
        t.equal(single.statusCode, 202);
        t.equal(y, 0, `round ${i}: the refused batch wrote nothing`);
        t.equal(x[0].payload.from, "single");
      } else {
        t.equal(both.statusCode, 202);
        t.equal(single.statusCode, 422);
        t.equal(y, 1);
        t.equal(x[0].payload.from, "batch");
      }
    }
  });
});
