import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { redeliver, type RedeliverContext } from "../delivery/redeliver.js";
import { errorResponses, ref, StreamId } from "../schemas/common.js";
import { DeadLetterCursor, DeadLetterPage } from "../schemas/pages.js";
import { DeliveryList, RedeliverResult, SubscriberName } from "../schemas/subscriber.js";
import { listDeadLetters, listDeliveries } from "../subscribers/history.js";

const security = [{ bearerAuth: [] }];
const tags = ["subscribers"];
const config = { scope: "admin" as const };
const Params = Type.Object({ name: SubscriberName });
const Limit = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: "50 when absent" })),
});

/** A subscriber's delivery log and dead letters, and redeliver (admin). */
const deliveryRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Built per request: the OpenAPI generator registers routes without Redis or Postgres.
  const ctx = (): RedeliverContext => ({
    db: app.db,
    redis: app.redis,
    keys: app.keys,
    secretKey: app.config.secretKey,
    client: app.webhooks,
  });

  app.get(
    "/subscribers/:name/deliveries",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "listSubscriberDeliveries",
        summary: "Delivery log of a subscriber",
        description:
          "Delivery attempts, newest first: status code or error, duration and outcome (`delivered`, `retry`, " +
          "`dead_lettered`).",
        params: Params,
        querystring: Limit,
        response: { 200: ref(DeliveryList), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request) => listDeliveries(app.db, request.params.name, request.query.limit ?? 50),
  );

  app.get(
    "/subscribers/:name/dead-letters",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "listSubscriberDeadLetters",
        summary: "Dead letters of a subscriber",
        description:
          "Entries that failed permanently, newest first, with the reason, the last answer and the stored envelope. " +
          "`resolved_at` is set once an operator redelivered one successfully; `unresolved=true` lists only the " +
          "others. A page holds at most `limit` dead letters and about 1 MiB of them (always at least one); " +
          "`next`, passed as `cursor`, continues with older ones.",
        params: Params,
        querystring: Type.Object({
          ...Limit.properties,
          unresolved: Type.Optional(Type.Boolean({ description: "false when absent" })),
          cursor: Type.Optional(DeadLetterCursor),
        }),
        response: { 200: ref(DeadLetterPage), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request) => {
      const { limit = 50, unresolved = false, cursor } = request.query;
      return listDeadLetters(app.db, request.params.name, { limit, unresolvedOnly: unresolved, cursor });
    },
  );

  app.post(
    "/subscribers/:name/dead-letters/:stream_message_id/redeliver",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "redeliverDeadLetter",
        summary: "Redeliver a dead letter",
        description:
          "The operator's explicit override of the dedup guard: makes one new signed delivery of the dead letter's " +
          "stored event to " +
          "this subscriber only (even when it is disabled), before answering. 202 means the attempt was made; " +
          "`outcome` says how it " +
          "went. On a 2xx the dedup row's outcome becomes `delivered` and the dead letter is marked resolved; " +
          "otherwise it stays " +
          "open with the new status and error. The attempt appears in the deliveries log. 404 for an unknown " +
          "subscriber or dead " +
          "letter; 409 when the event is no longer stored (a `trimmed` dead letter).",
        params: Type.Object({ name: SubscriberName, stream_message_id: StreamId }),
        response: { 202: ref(RedeliverResult), ...errorResponses(400, 401, 403, 404, 409, 414, 503) },
      },
    },
    async (request, reply) => {
      const result = await redeliver(ctx(), request.params.name, request.params.stream_message_id);
      return reply.code(202).send(result);
    },
  );
};

export default deliveryRoutes;
