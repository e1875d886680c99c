/**
 * The ingest instrumentation: events offered by type and outcome, and the time to answer.
 * `app.metrics` exists only in apps made by `build()`, so it is read per request, never here.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { boundedLabel } from "../metrics.js";

const ONE = "/v1/events";
const BATCH = "/v1/events/batch";
const TYPE_RE = /^[A-Za-z][A-Za-z0-9_.:-]{0,127}$/;
type IngestBody = { type?: unknown; events?: unknown } | undefined;

/** Counts ingested events by type and outcome, and times ingest requests. */
function instrumentIngest(app: FastifyInstance): void {
  const foldType = boundedLabel(app.config.metricsMaxEventTypes);
  const typeLabel = (e: unknown) => {
    const type = (e as { type?: unknown } | null)?.type;
    return typeof type === "string" && TYPE_RE.test(type) ? foldType(type) : "unknown";
  };
  // A 202 batch may mix new and replayed events; only its response body tells which.
  const replayed = new WeakMap<FastifyRequest, boolean[]>();

  app.addHook("onSend", async (request, reply, payload) => {
    if (
      reply.statusCode === 202 &&
      request.routeOptions.url === BATCH &&
      typeof payload === "string" &&
      payload.includes('"replayed"')
    ) {
      const body = JSON.parse(payload) as { results: { replayed?: boolean }[] };
      replayed.set(
        request,
        body.results.map((r) => r.replayed === true),
      );
    }
    return payload;
  });

  app.addHook("onResponse", async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url;
    if (request.method !== "POST" || (route !== ONE && route !== BATCH)) return;
    const m = app.metrics;
    const status = reply.statusCode;
    m.ingestDuration.observe({ route, status: String(status) }, reply.elapsedTime / 1000);
    const outcome =
      status === 202 ? "accepted" : status === 200 ? "replayed" : status === 503 ? "unavailable" : "rejected";
    const body = request.body as IngestBody;
    // Requests refused before their body was parsed (auth, media type, size, shedding) count once as `unknown`.
    const events =
      route === ONE ? (body === undefined ? null : [body]) : Array.isArray(body?.events) ? body.events : null;
    if (events === null) {
      m.eventsIngested.inc({ type: "unknown", outcome });
      return;
    }
    // Only types the gateway took take a label slot: refused requests could otherwise fill every
    // slot with made-up types, and the real ones would fold into `other`.
    const counted = outcome === "accepted" || outcome === "replayed";
    const flags = replayed.get(request);
    events.forEach((e, i) => {
      const each = flags?.[i] ? "replayed" : outcome;
      m.eventsIngested.inc({ type: counted ? typeLabel(e) : "unknown", outcome: each });
      // Per-type volume for GET /v1/activity/event-types: accepted events only, not replays.
      if (each === "accepted") app.typeVolume.count((e as { type: string }).type, 1);
    });
  });
}

/** Registered by registerHttp before the /v1 routes it instruments. */
export default fp(async (app) => instrumentIngest(app), { name: "ingest-metrics", fastify: "5.x" });
