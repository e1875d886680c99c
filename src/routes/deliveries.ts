import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { redeliver, type RedeliverContext } from "../delivery/redeliver.js";
import { WebhookClient } from "../delivery/webhook-client.js";
import { errorResponses, StreamId } from "../schemas/common.js";
import { SubscriberName } from "../schemas/subscriber.js";

const RedeliverResult = Type.Object(
  {
    stream_message_id: StreamId,
    outcome: Type.Union([Type.Literal("delivered"), Type.Literal("failed")], {
      description: "`delivered` on a 2xx (dead letter resolved, dedup row `delivered`); `failed` otherwise (dead letter stays open)",
    }),
    attempt: Type.Integer({ minimum: 1, description: "the x-brain-attempt sent: the dead letter's attempts + 1" }),
    status_code: Type.Union([Type.Integer(), Type.Null()], { description: "the webhook's HTTP status; null when no answer came" }),
    error: Type.Union([Type.String(), Type.Null()]),
  },
  { description: "The outcome of the one attempt made." },
);

/** POST /v1/subscribers/{name}/dead-letters/{stream_message_id}/redeliver (admin). */
const redeliverRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const client = new WebhookClient(app.config.webhookAllowPrivate);
  app.addHook("onClose", () => client.close());
  // Built per request: the OpenAPI generator registers routes without Redis or Postgres.
  const ctx = (): RedeliverContext => ({ db: app.db, redis: app.redis, stream: app.keys.stream, secretKey: app.config.secretKey, client });

  app.post(
    "/subscribers/:name/dead-letters/:stream_message_id/redeliver",
    {
      config: { scope: "admin" },
      schema: {
        tags: ["subscribers"],
        security: [{ bearerAuth: [] }],
        summary: "Redeliver a dead letter",
        description:
          "The operator's explicit override of the dedup guard: makes one new signed delivery of the dead letter's stored event to " +
          "this subscriber only (even when it is disabled), before answering. 202 means the attempt was made; `outcome` says how it " +
          "went. On a 2xx the dedup row's outcome becomes `delivered` and the dead letter is marked resolved; otherwise it stays " +
          "open with the new status and error. The attempt appears in the deliveries log. 404 for an unknown subscriber or dead " +
          "letter; 409 when the event is no longer stored (a `trimmed` dead letter).",
        params: Type.Object({ name: SubscriberName, stream_message_id: StreamId }),
        response: { 202: RedeliverResult, ...errorResponses(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const result = await redeliver(ctx(), request.params.name, request.params.stream_message_id);
      return reply.code(202).send(result);
    },
  );
};

export default redeliverRoutes;
