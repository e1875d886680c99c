import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { redisFailure } from "../errors.js";
import { errorResponses, ref } from "../schemas/common.js";
import { TypeVolume } from "../schemas/event-browse.js";
import { MAX_TYPES, OTHER } from "../stream/type-volume.js";

/** GET /v1/activity/event-types: events accepted per type and minute, over every process (admin). */
const eventTypeVolumeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/activity/event-types",
    {
      config: { scope: "admin" },
      schema: {
        tags: ["events"],
        operationId: "getEventTypeVolume",
        summary: "Events accepted per type and minute",
        description:
          "Events accepted (not idempotent replays) per event type for each of the last `minutes` minutes, the " +
          "current one included, summed over every gateway process. Each process adds its counts every 5 s, so " +
          "the last seconds may be missing. At most " +
          `${MAX_TYPES.toLocaleString("en")} types are counted per minute; the others are counted as \`${OTHER}\`. ` +
          "Minutes without an event of a type are left out of its list. Counts are kept for a day.",
        security: [{ bearerAuth: [] }],
        querystring: Type.Object({
          minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440, description: "60 when absent" })),
        }),
        response: { 200: ref(TypeVolume), ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request) => {
      try {
        return await app.typeVolume.read(request.query.minutes ?? 60);
      } catch (cause) {
        throw redisFailure(cause);
      }
    },
  );
};

export default eventTypeVolumeRoutes;
