import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { pingDb } from "../db/client.js";
import { Liveness, Readiness, ref } from "../schemas/common.js";
import { pingRedis } from "../stream/connections.js";

const PROBE_TIMEOUT_MS = 2000;

/** Resolves true when `probe` succeeds within 2 s, false when it fails or takes longer. */
export async function answers(probe: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS)));
  try {
    return await Promise.race([
      probe().then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/health/live",
    {
      schema: {
        tags: ["operations"],
        operationId: "getLiveness",
        summary: "Liveness",
        security: [],
        description: "200 while the process serves HTTP, whatever the state of Redis and Postgres.",
        response: { 200: ref(Liveness) },
      },
    },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/health/ready",
    {
      schema: {
        tags: ["operations"],
        operationId: "getReadiness",
        summary: "Readiness",
        security: [],
        description: "200 when Redis and Postgres both answer; 503 with the failing check otherwise.",
        response: { 200: ref(Readiness), 503: ref(Readiness) },
      },
    },
    async (_request, reply) => {
      const [redis, postgres] = await Promise.all([answers(() => pingRedis(app.redis)), answers(() => pingDb(app.db))]);
      const ready = redis && postgres;
      reply.code(ready ? 200 : 503);
      return {
        status: ready ? ("ready" as const) : ("not_ready" as const),
        checks: {
          redis: redis ? ("up" as const) : ("down" as const),
          postgres: postgres ? ("up" as const) : ("down" as const),
        },
      };
    },
  );
};

export default healthRoutes;
