/**
 * Load shedding with @fastify/under-pressure: once the event loop lags or the heap fills past the
 * configured thresholds, requests are answered 503 + Retry-After in the shared error shape at
 * once, before the process degrades for everyone (timeouts, GC thrash, an OOM kill).
 *
 * Health and /metrics are never shed. A liveness failure would make an orchestrator restart a
 * process that is merely busy, losing its in-flight work. A readiness failure under load would
 * move all traffic onto the other replicas, which are usually just as loaded: they tip over one
 * after another. Shedding per request already keeps this process healthy, and readiness keeps
 * meaning "Redis and Postgres answer". An operator needs the metrics most during an overload.
 */
import underPressure from "@fastify/under-pressure";
import type { FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { getHeapStatistics } from "node:v8";
import { errorBody, errors } from "../errors.js";

const EXEMPT = new Set(["/health/live", "/health/ready", "/metrics"]);
/** Short: the pressure is sampled every second and usually passes within seconds. */
const RETRY_AFTER_SECONDS = "2";

/** Registers under-pressure with the BRAIN_MAX_* thresholds (0 turns a check off). */
export default fp(
  async (app) => {
    const { maxEventLoopDelayMs, maxHeapUsedPercent } = app.config;
    if (maxEventLoopDelayMs === 0 && maxHeapUsedPercent === 0) return;
    await app.register(underPressure, {
      maxEventLoopDelay: maxEventLoopDelayMs,
      maxHeapUsedBytes: Math.floor((getHeapStatistics().heap_size_limit * maxHeapUsedPercent) / 100),
      // One-second windows: under-pressure reads a window with no loop-delay sample as an
      // infinite delay, and with short windows a few busy (not overloaded) turns empty one.
      sampleInterval: 1000,
      // Returning undefined lets the request through; a body is sent as the answer. The answer
      // is written here rather than thrown, so shedding does not log an error per refused request.
      // (The typings declare void, but under-pressure sends any non-null return: index.js handlePressure.)
      pressureHandler: (request: FastifyRequest, reply: FastifyReply) => {
        if (EXEMPT.has(request.routeOptions.url ?? "")) return undefined;
        reply.code(503).header("retry-after", RETRY_AFTER_SECONDS);
        return errorBody(new errors.Overloaded()) as never;
      },
    });
  },
  { name: "load-shedding", fastify: "5.x" },
);
