/**
 * GET /metrics (Prometheus text format, no token) and the ingest instrumentation.
 *
 * Counters and histograms move as requests and deliveries happen; the stream gauges are read
 * at scrape time with one XINFO GROUPS and one XLEN, whatever the number of subscribers.
 * `app.metrics` exists only in apps made by `build()`, so it is read per request, never here.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { Type } from "typebox";
import { boundedLabel } from "../metrics.js";
import { groupInfos } from "../stream/groups.js";

const ONE = "/v1/events";
const BATCH = "/v1/events/batch";
const TYPE_RE = /^[A-Za-z][A-Za-z0-9_.:-]{0,127}$/;
const PROBE_TIMEOUT_MS = 2000;

/** Resolves false when `probe` fails or takes longer than the probe timeout. */
async function answers(probe: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS)));
  try {
    return await Promise.race([probe().then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Sets the stream, subscriber and up gauges from Redis and Postgres. */
async function refreshGauges(app: FastifyInstance): Promise<void> {
  const m = app.metrics;
  const redisUp = await answers(async () => {
    const [groups, length] = await Promise.all([groupInfos(app.redis, app.keys.stream), app.redis.xlen(app.keys.stream)]);
    // Reset first so a deleted subscriber's series disappears instead of freezing.
    m.subscriberPending.reset();
    m.subscriberLag.reset();
    for (const [subscriber, g] of groups) {
      m.subscriberPending.set({ subscriber }, g.pending);
      // Redis cannot tell the lag after an XDEL ahead of the group: leave the series out then.
      if (g.lag !== null) m.subscriberLag.set({ subscriber }, g.lag);
    }
    m.streamLength.set(length);
  });
  m.redisUp.set(redisUp ? 1 : 0);
  m.postgresUp.set((await answers(() => app.sql`select 1`)) ? 1 : 0);
}

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
    if (reply.statusCode === 202 && request.routeOptions.url === BATCH && typeof payload === "string" && payload.includes('"replayed"')) {
      const body = JSON.parse(payload) as { results: { replayed?: boolean }[] };
      replayed.set(request, body.results.map((r) => r.replayed === true));
    }
    return payload;
  });

  app.addHook("onResponse", async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url;
    if (request.method !== "POST" || (route !== ONE && route !== BATCH)) return;
    const m = app.metrics;
    const status = reply.statusCode;
    m.ingestDuration.observe({ route, status: String(status) }, reply.elapsedTime / 1000);
    const outcome = status === 202 ? "accepted" : status === 200 ? "replayed" : status === 503 ? "unavailable" : "rejected";
    const body = request.body as IngestBody;
    // Requests refused before their body was parsed (auth, media type, size, shedding) count once as `unknown`.
    const events = route === ONE ? (body === undefined ? null : [body]) : Array.isArray(body?.events) ? body.events : null;
    if (events === null) {
      m.eventsIngested.inc({ type: "unknown", outcome });
      return;
    }
    const flags = replayed.get(request);
    events.forEach((e, i) => m.eventsIngested.inc({ type: typeLabel(e), outcome: flags?.[i] ? "replayed" : outcome }));
  });
}

/** The metrics endpoint and the ingest hooks; registered by registerHttp before the /v1 routes. */
export default fp(
  async (app) => {
    instrumentIngest(app);
    app.get(
      "/metrics",
      {
        schema: {
          tags: ["operations"],
          summary: "Prometheus metrics",
          description:
            "Prometheus text exposition format. Stream length, per-subscriber pending and lag, and Redis/Postgres up are read at scrape time; " +
            "no token is needed and load shedding never refuses it, so an overloaded process stays observable.",
          response: { 200: { description: "Prometheus text format 0.0.4", content: { "text/plain": { schema: Type.String() } } } },
        },
      },
      async (_request, reply) => {
        await refreshGauges(app);
        reply.type(app.metrics.registry.contentType);
        return app.metrics.registry.metrics();
      },
    );
  },
  { name: "metrics", fastify: "5.x" },
);
