import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { errorResponses, ref } from "../schemas/common.js";
import {
  MAX_ACTIVITY_MINUTES,
  MAX_ALL_ACTIVITY_MINUTES,
  SubscriberActivity,
  SubscribersActivity,
} from "../schemas/delivery-activity.js";
import { SubscriberName } from "../schemas/subscriber.js";
import { allSubscribersActivity, subscriberActivity } from "../subscribers/activity.js";

const security = [{ bearerAuth: [] }];
const tags = ["subscribers"];
const config = { scope: "admin" as const };
const minutes = (max: number) =>
  Type.Object({
    minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: max, description: "60 when absent" })),
  });
const WINDOW =
  "Minutes are whole UTC minutes, the last one the current minute (still filling). Counts come from the " +
  "delivery log (webhook attempts: an internal consumer's minutes are zeros), so they reach back " +
  "BRAIN_DELIVERY_RETENTION_HOURS at most; p50_ms and p99_ms are over all attempts of the minute, whatever " +
  "their outcome.";

/** Per-minute delivery activity from the delivery log (admin). */
const activityRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/subscribers/:name/activity",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "getSubscriberActivity",
        summary: "Attempts per minute of a subscriber",
        description:
          `A subscriber's webhook attempts per minute over the last \`minutes\` (1–${MAX_ACTIVITY_MINUTES}), ` +
          `by outcome, with latency percentiles. ${WINDOW} The cost grows with the attempts in the window: a ` +
          "day of a busy subscriber is a read of all its attempts of that day.",
        params: Type.Object({ name: SubscriberName }),
        querystring: minutes(MAX_ACTIVITY_MINUTES),
        response: { 200: ref(SubscriberActivity), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request) => subscriberActivity(app.db, request.params.name, request.query.minutes ?? 60),
  );

  app.get(
    "/activity/subscribers",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "listSubscribersActivity",
        summary: "Attempts per minute of every subscriber",
        description:
          `Every subscriber's (webhook and internal) attempts per minute over the last \`minutes\` ` +
          `(1–${MAX_ALL_ACTIVITY_MINUTES}), as for one subscriber, in one read of the window. ${WINDOW} The answer ` +
          "holds subscribers × minutes entries (about 100 bytes each), hence the shorter window.",
        querystring: minutes(MAX_ALL_ACTIVITY_MINUTES),
        response: { 200: ref(SubscribersActivity), ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request) => allSubscribersActivity(app.db, request.query.minutes ?? 60),
  );
};

export default activityRoutes;
