/**
 * The ingest instrumentation: events offered by type and outcome, and the time to answer.
 * Accepted events are counted by the routes (`app.ingestMetrics`), which know each event's
 * outcome; one hook times every ingest request and counts those refused before or instead of
 * the handler. `app.metrics` exists only in apps made by `build()`, so it is read on use, never here.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
import fp from "fastify-plugin";
import { boundedLabel } from "../metrics.js";

const ONE = "/v1/events";
const BATCH = "/v1/events/batch";
const TYPE_RE = /^[A-Za-z][A-Za-z0-9_.:-]{0,127}$/;
type IngestBody = { type?: unknown; events?: unknown } | undefined;

export interface IngestMetrics {
  /** Counts one event of the request that the gateway took: appended, or answered from its key's record. */
  taken(request: FastifyRequest, type: string, replayed: boolean): void;
}

declare module "fastify" {
  interface FastifyInstance {
    ingestMetrics: IngestMetrics;
  }
  interface FastifyRequest {
    /** Set once the route counted the request's events. */
    ingestCounted: boolean;
  }
}

function instrumentIngest(app: FastifyInstance): void {
  const foldType = boundedLabel(app.config.metricsMaxEventTypes);
  const count = (type: string, outcome: string) => app.metrics.eventsIngested.inc({ type, outcome });
  const time = (route: string, status: number, seconds: number) =>
    app.metrics.ingestDuration.observe({ route, status: String(status) }, seconds);

  app.decorateRequest("ingestCounted", false);
  app.decorate<IngestMetrics>("ingestMetrics", {
    taken(request, type, replayed) {
      request.ingestCounted = true;
      // Only types the gateway took take a label slot: refused requests could otherwise fill every
      // slot with made-up types, and the real ones would fold into `other`. Taken types passed the
      // envelope schema, so they need no check here.
      count(foldType(type), replayed ? "replayed" : "accepted");
      // Per-type volume for GET /v1/activity/event-types: appended events only, not replays.
      if (!replayed) app.typeVolume.count(type, 1);
    },
  });

  // Callback style: an async hook costs every request a promise and a microtask hop.
  app.addHook("onResponse", (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const route = request.routeOptions.url;
    if (request.method !== "POST" || (route !== ONE && route !== BATCH)) return done();
    const status = reply.statusCode;
    time(route, status, reply.elapsedTime / 1000);
    if (request.ingestCounted) return done();
    const outcome =
      status === 202 ? "accepted" : status === 200 ? "replayed" : status === 503 ? "unavailable" : "rejected";
    const body = request.body as IngestBody;
    // Requests refused before their body was parsed (auth, media type, size, shedding) count once as `unknown`.
    const events =
      route === ONE ? (body === undefined ? null : [body]) : Array.isArray(body?.events) ? body.events : null;
    if (events === null) count("unknown", outcome);
    else
      for (const e of events) {
        const type = (e as { type?: unknown } | null)?.type;
        const taken = outcome === "accepted" || outcome === "replayed";
        count(taken && typeof type === "string" && TYPE_RE.test(type) ? foldType(type) : "unknown", outcome);
      }
    done();
  });
}

/** Registered by registerHttp before the /v1 routes it instruments. */
export default fp(async (app) => instrumentIngest(app), { name: "ingest-metrics", fastify: "5.x" });
