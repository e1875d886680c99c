import t from "tap";
import { buildApp } from "./helpers/app.js";
import { PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

t.test("batch ingest", async (t) => {
  const { app, config } = await buildApp(t, { BRAIN_MAX_BATCH: "5" });
  const postBatch = (payload: unknown) =>
    app.inject({ method: "POST", url: "/v1/events/batch", headers: auth(PUBLISH_TOKEN), payload: payload as object });
  const xlen = () => app.redis.xlen(config.stream);
  const paths = (body: { details?: { path: string }[] }) => (body.details ?? []).map((d) => d.path);

  t.test("a valid batch is appended in order and answered with one result per event", async (t) => {
    const before = await xlen();
    const events = [
      envelope({ id: "b-1" }),
      envelope({ type: "mission.updated" }),
      envelope({ id: "b-3", payload: { n: 3 } }),
    ];
    const res = await postBatch({ events });
    t.equal(res.statusCode, 202);
    const { results } = res.json() as { results: { id: string; stream_message_id: string; replayed?: boolean }[] };
    t.equal(results.length, 3);
    t.equal(results[0]!.id, "b-1");
    t.equal(results[2]!.id, "b-3");
    t.notOk(
      results.some((r) => "replayed" in r),
      "nothing is marked replayed on first acceptance",
    );
    const entries = await app.redis.xrange(config.stream, "-", "+");
    t.equal(entries.length, before + 3);
    const appended = entries.slice(before);
    t.same(
      appended.map(([id]) => id),
      results.map((r) => r.stream_message_id),
      "results follow the request order, as does the stream",
    );
    t.same(
      appended.map(([, f]) => JSON.parse(f[1]!).id),
      results.map((r) => r.id),
    );
    t.equal(JSON.parse(appended[1]![1][1]!).type, "mission.updated");
  });

  t.test("one invalid event rejects the whole batch with /events/<i> paths and writes nothing", async (t) => {
    const before = await xlen();
    const events = [envelope(), envelope(), envelope(), envelope({ meta: { schema_version: 1, producer: "p" } })];
    const res = await postBatch({ events });
    t.equal(res.statusCode, 400);
    t.equal(res.json().code, "INVALID_ENVELOPE");
    t.same(paths(res.json()), ["/events/3/meta/source_module"]);

    const two = await postBatch({ events: [envelope({ type: "" }), envelope(), envelope({ extra: 1 })] });
    t.equal(two.statusCode, 400);
    t.ok(
      paths(two.json()).includes("/events/0/type") && paths(two.json()).includes("/events/2/extra"),
      JSON.stringify(paths(two.json())),
    );

    const version = await postBatch({
      events: [envelope(), envelope({ meta: { schema_version: 2, producer: "p", source_module: "m" } })],
    });
    t.equal(version.statusCode, 400);
    t.equal(version.json().code, "UNSUPPORTED_SCHEMA_VERSION");
    t.same(paths(version.json()), ["/events/1/meta/schema_version"]);

    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 70; i++) deep = { a: deep };
    const tooDeep = await postBatch({ events: [envelope(), envelope({ payload: deep })] });
    t.equal(tooDeep.json().code, "PAYLOAD_TOO_DEEP");
    t.same(paths(tooDeep.json()), ["/events/1/payload"]);

    const tooLarge = await postBatch({ events: [envelope(), envelope({ payload: { blob: "x".repeat(300 * 1024) } })] });
    t.equal(tooLarge.statusCode, 413);
    t.equal(tooLarge.json().code, "ENVELOPE_TOO_LARGE");
    t.same(paths(tooLarge.json()), ["/events/1"]);
    t.equal(await xlen(), before, "nothing was appended by any rejected batch");
  });

  t.test("an id twice in one batch is 400 DUPLICATE_EVENT_ID naming the second position", async (t) => {
    const before = await xlen();
    const res = await postBatch({ events: [envelope({ id: "dup" }), envelope(), envelope({ id: "dup" })] });
    t.equal(res.statusCode, 400);
    t.equal(res.json().code, "DUPLICATE_EVENT_ID");
    t.same(paths(res.json()), ["/events/2/id"]);
    t.equal(await xlen(), before);
  });

  t.test("batch shape: more than BRAIN_MAX_BATCH is BATCH_TOO_LARGE, empty or extra keys are 400", async (t) => {
    const before = await xlen();
    const big = await postBatch({ events: Array.from({ length: 6 }, () => envelope()) });
    t.equal(big.statusCode, 400);
    t.equal(big.json().code, "BATCH_TOO_LARGE");
    t.match(big.json().message, /5/);
    t.equal(
      (await postBatch({ events: Array.from({ length: 5 }, () => envelope()) })).statusCode,
      202,
      "exactly the limit is fine",
    );

    const empty = await postBatch({ events: [] });
    t.equal(empty.statusCode, 400);
    t.same(paths(empty.json()), ["/events"]);
    const extra = await postBatch({ events: [envelope()], note: "x" });
    t.equal(extra.statusCode, 400);
    t.same(paths(extra.json()), ["/note"]);
    for (const body of [{}, { events: envelope() }, [envelope()]]) {
      t.equal((await postBatch(body)).statusCode, 400, JSON.stringify(body).slice(0, 40));
    }
    t.equal(await xlen(), before + 5, "only the batch at the limit was appended");
  });
});

t.test("the default batch limit is 500 events", async (t) => {
  const { app, config } = await buildApp(t);
  const events = (n: number) => Array.from({ length: n }, (_, i) => envelope({ payload: { i } }));
  const over = await app.inject({
    method: "POST",
    url: "/v1/events/batch",
    headers: auth(PUBLISH_TOKEN),
    payload: { events: events(501) },
  });
  t.equal(over.json().code, "BATCH_TOO_LARGE");
  const full = await app.inject({
    method: "POST",
    url: "/v1/events/batch",
    headers: auth(PUBLISH_TOKEN),
    payload: { events: events(500) },
  });
  t.equal(full.statusCode, 202);
  t.equal(await app.redis.xlen(config.stream), 500);
});
