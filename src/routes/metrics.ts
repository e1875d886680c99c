/**
 * GET /metrics (Prometheus text format, no token). Counters and histograms move as requests and
 * deliveries happen; the stream gauges are read at scrape time with one XINFO GROUPS and one XLEN,
 * whatever the number of subscribers.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { pingDb } from "../db/client.js";
import { streamLength } from "../stream/entries.js";
import { groupInfos } from "../stream/groups.js";
import { answers } from "./health.js";

/** Sets the stream, subscriber and up gauges from Redis and Postgres. */
async function refreshGauges(app: FastifyInstance): Promise<void> {
  const m = app.metrics;
  const redisUp = await answers(async () => {
    const [groups, length] = await Promise.all([
      groupInfos(app.redis, app.keys.stream),
      streamLength(app.redis, app.keys.stream),
    ]);
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
  m.postgresUp.set((await answers(() => pingDb(app.db))) ? 1 : 0);
}

const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/metrics",
    {
      schema: {
        tags: ["operations"],
        operationId: "getMetrics",
        summary: "Prometheus metrics",
        security: [],
        description:
          "Prometheus text exposition format. Stream length, per-subscriber pending and lag, and Redis/Postgres up " +
          "are " +
          "read at scrape time; no token is needed and load shedding never refuses it, so an overloaded process " +
          "stays " +
          "observable.",
        response: {
          200: { description: "Prometheus text format 0.0.4", content: { "text/plain": { schema: Type.String() } } },
        },
      },
    },
    async (_request, reply) => {
      await refreshGauges(app);
      reply.type(app.metrics.registry.contentType);
      return app.metrics.registry.metrics();
    },
  );
};

export default metricsRoutes;
