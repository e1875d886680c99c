/**
 * GET /metrics (Prometheus text format, no token). Counters and histograms move as requests and
 * deliveries happen; the stream gauges are read at scrape time with one XINFO GROUPS and one XLEN
 * per partition, whatever the number of subscribers.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { pingDb } from "../db/client.js";
import { streamLength } from "../stream/entries.js";
import { partitionedGroupInfos } from "../stream/groups.js";
import { answers } from "./health.js";

/** Sets the stream, subscriber and up gauges from Redis and Postgres. */
async function refreshGauges(app: FastifyInstance): Promise<void> {
  const m = app.metrics;
  const redisUp = await answers(async () => {
    const parts = app.keys.partitions;
    const [groups, lengths] = await Promise.all([
      partitionedGroupInfos(app.redis, app.keys),
      Promise.all(parts.map((p) => streamLength(app.redis, p.stream))),
    ]);
    // Reset first so a deleted subscriber's series disappears instead of freezing.
    m.subscriberPending.reset();
    m.subscriberLag.reset();
    m.subscriberPartitionLag.reset();
    for (const [subscriber, g] of groups) {
      m.subscriberPending.set({ subscriber }, g.pending);
      // Redis cannot tell the lag after an XDEL ahead of the group: leave the series out then.
      if (g.lag !== null) m.subscriberLag.set({ subscriber }, g.lag);
      for (const [partition, pg] of g.partitions) {
        if (pg.lag !== null) m.subscriberPartitionLag.set({ subscriber, partition }, pg.lag);
      }
    }
    m.streamLength.set(lengths.reduce((a, b) => a + b, 0));
    lengths.forEach((length, partition) => m.partitionLength.set({ partition }, length));
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
