import t from "tap";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";
import { parseExposition, valueOf } from "./helpers/prometheus.js";
import type { FastifyInstance } from "fastify";

async function scrape(app: FastifyInstance) {
  const res = await app.inject({ method: "GET", url: "/metrics" });
  return { res, samples: parseExposition(res.body) };
}

t.test("metrics count ingested events by type and outcome and time ingest requests", async (t) => {
  // A cap of two event types: the third distinct type folds into `other`.
  const { app } = await buildApp(t, { BRAIN_METRICS_MAX_EVENT_TYPES: "2", BRAIN_TRIM_INTERVAL_MS: "0" });
  const before = await scrape(app);
  t.equal(before.res.statusCode, 200, "no token needed");
  t.match(before.res.headers["content-type"], /^text\/plain; version=0\.0\.4/);
  t.equal(valueOf(before.samples, "brain_events_ingested_total", { type: "a.one", outcome: "accepted" }), undefined);

  const post = (body: unknown, headers = auth(PUBLISH_TOKEN)) =>
    app.inject({ method: "POST", url: "/v1/events", headers, payload: body as object });
  t.equal((await post(envelope({ type: "a.one" }))).statusCode, 202);
  t.equal((await post(envelope({ type: "a.one", id: "evt-1" }))).statusCode, 202);
  t.equal((await post(envelope({ type: "a.one", id: "evt-1" }))).statusCode, 200, "replayed");
  t.equal((await post(envelope({ type: "a.one", meta: undefined }))).statusCode, 400, "rejected");
  t.equal((await post(envelope(), auth(ADMIN_TOKEN))).statusCode, 403, "refused before the body counts");
  const batch = await app.inject({
    method: "POST",
    url: "/v1/events/batch",
    headers: auth(PUBLISH_TOKEN),
    payload: {
      events: [envelope({ type: "b.two" }), envelope({ type: "c.three" }), envelope({ type: "a.one", id: "evt-1" })],
    },
  });
  t.equal(batch.statusCode, 202);

  const { samples } = await scrape(app);
  const ingested = (type: string, outcome: string) =>
    valueOf(samples, "brain_events_ingested_total", { type, outcome });
  t.equal(ingested("a.one", "accepted"), 2);
  t.equal(ingested("a.one", "replayed"), 2, "one replayed single request and one replayed batch item");
  t.equal(ingested("a.one", "rejected"), undefined, "a refused event takes no type label");
  t.equal(ingested("unknown", "rejected"), 2, "the refused event and the request refused before its body");
  t.equal(ingested("b.two", "accepted"), 1);
  t.equal(ingested("other", "accepted"), 1, "types beyond the cap fold into other");
  t.equal(valueOf(samples, "brain_ingest_duration_seconds_count", { route: "/v1/events", status: "202" }), 2);
  t.equal(valueOf(samples, "brain_ingest_duration_seconds_count", { route: "/v1/events/batch", status: "202" }), 1);
  t.ok(valueOf(samples, "brain_ingest_duration_seconds_sum", { route: "/v1/events", status: "202" })! > 0);
  t.equal(valueOf(samples, "brain_stream_length"), 4);
  t.equal(valueOf(samples, "brain_redis_up"), 1);
  t.equal(valueOf(samples, "brain_postgres_up"), 1);
  t.ok(valueOf(samples, "process_resident_memory_bytes")! > 0, "default process metrics");
});

t.test("refused events cannot fill the type labels: accepted types still get their own", async (t) => {
  const { app } = await buildApp(t, { BRAIN_METRICS_MAX_EVENT_TYPES: "3", BRAIN_TRIM_INTERVAL_MS: "0" });
  const events = Array.from({ length: 50 }, (_, i) => envelope({ type: `junk.t${i}`, source: "" }));
  const refused = await app.inject({
    method: "POST",
    url: "/v1/events/batch",
    headers: auth(PUBLISH_TOKEN),
    payload: { events },
  });
  t.equal(refused.statusCode, 400);
  const res = await app.inject({
    method: "POST",
    url: "/v1/events",
    headers: auth(PUBLISH_TOKEN),
    payload: envelope({ type: "orders.created" }),
  });
  t.equal(res.statusCode, 202);
  const { samples } = await scrape(app);
  t.equal(valueOf(samples, "brain_events_ingested_total", { type: "orders.created", outcome: "accepted" }), 1);
  t.equal(valueOf(samples, "brain_events_ingested_total", { type: "unknown", outcome: "rejected" }), 50);
  t.notOk(
    samples.some((s) => s.labels["type"]?.startsWith("junk.")),
    "no refused type appears as a label",
  );
});

t.test("pending and lag per subscriber come from the consumer groups at scrape time", async (t) => {
  const { app, config } = await buildApp(t, { BRAIN_TRIM_INTERVAL_MS: "0" });
  for (let i = 0; i < 5; i++) {
    t.equal(
      (await app.inject({ method: "POST", url: "/v1/events", headers: auth(PUBLISH_TOKEN), payload: envelope() }))
        .statusCode,
      202,
    );
  }
  await app.redis.xgroup("CREATE", config.stream, "reader", "0");
  await app.redis.xgroup("CREATE", config.stream, "idle", "0");
  await app.redis.xreadgroup("GROUP", "reader", "c1", "COUNT", 3, "STREAMS", config.stream, ">");
  let { samples } = await scrape(app);
  t.equal(valueOf(samples, "brain_subscriber_pending", { subscriber: "reader" }), 3);
  t.equal(valueOf(samples, "brain_subscriber_lag", { subscriber: "reader" }), 2);
  t.equal(valueOf(samples, "brain_subscriber_pending", { subscriber: "idle" }), 0);
  t.equal(valueOf(samples, "brain_subscriber_lag", { subscriber: "idle" }), 5);

  await app.redis.xgroup("DESTROY", config.stream, "idle");
  ({ samples } = await scrape(app));
  t.equal(
    valueOf(samples, "brain_subscriber_lag", { subscriber: "idle" }),
    undefined,
    "a removed group's series disappears",
  );
});

t.test("the metrics endpoint is documented under operations", async (t) => {
  const { app } = await buildApp(t, { BRAIN_TRIM_INTERVAL_MS: "0" });
  const doc = (await app.inject({ method: "GET", url: "/openapi.json" })).json();
  t.same(doc.paths["/metrics"].get.tags, ["operations"]);
  t.ok(doc.paths["/metrics"].get.responses["200"].content["text/plain"]);
});
