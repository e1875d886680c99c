import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ATTEMPT_SCAN_LIMIT } from "../db/delivery-attempts.js";
import { BULK_REDELIVER_CONCURRENCY, redeliver, redeliverMany, type RedeliverContext } from "../delivery/redeliver.js";
import { errorResponses, ref, StreamId } from "../schemas/common.js";
import { EventTypeName } from "../schemas/envelope.js";
import { DeadLetterCursor, DeadLetterPage } from "../schemas/pages.js";
import {
  BulkRedeliver,
  BulkRedeliverResult,
  DeliveryCursor,
  DeliveryList,
  MAX_BULK_REDELIVER,
  RedeliverResult,
  SubscriberName,
} from "../schemas/subscriber.js";
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
          "Delivery attempts, newest first: event type, status code or error, duration and outcome (`delivered`, " +
          "`retry`, `dead_lettered`). `outcome` and `event_type` keep only matching attempts; `next`, passed as " +
          "`before`, continues with older ones. A filtered page looks at no more than " +
          `${ATTEMPT_SCAN_LIMIT.toLocaleString("en")} attempts, so it can hold fewer than \`limit\` (even none) ` +
          "and still have a `next`. Attempts logged before the log recorded event types have `event_type` null " +
          "and never match `event_type`.",
        params: Params,
        querystring: Type.Object({
          ...Limit.properties,
          outcome: Type.Optional(
            Type.Union([Type.Literal("delivered"), Type.Literal("retry"), Type.Literal("dead_lettered")]),
          ),
          event_type: Type.Optional(EventTypeName),
          before: Type.Optional(DeliveryCursor),
        }),
        response: { 200: ref(DeliveryList), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request) => {
      const { limit = 50, outcome, event_type: eventType, before } = request.query;
      return listDeliveries(app.db, request.params.name, { limit, outcome, eventType, before });
    },
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
    "/subscribers/:name/dead-letters/redeliver",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "redeliverDeadLetters",
        summary: "Redeliver several dead letters",
        description:
          `Up to ${MAX_BULK_REDELIVER} dead letters, each exactly as one redeliver does it (one new signed attempt, ` +
          `recorded in the deliveries log; an internal consumer's are queued), at most ${BULK_REDELIVER_CONCURRENCY} ` +
          "at once, answered when all were made: a slow receiver makes this take up to " +
          `${MAX_BULK_REDELIVER / BULK_REDELIVER_CONCURRENCY} × its \`timeout_ms\`. \`results\` follow the order ` +
          "of `stream_message_ids`; an id without a dead letter, or whose event is no longer stored, gets the " +
          "`code` one redeliver would answer (`NOT_FOUND`, `CONFLICT`) and the others are still attempted. " +
          "404 for an unknown subscriber.",
        params: Params,
        body: ref(BulkRedeliver),
        response: { 202: ref(BulkRedeliverResult), ...errorResponses(400, 401, 403, 404, 413, 414, 415, 503) },
      },
    },
    async (request, reply) => {
      const results = await redeliverMany(ctx(), request.params.name, request.body.stream_message_ids);
      return reply.code(202).send({ results });
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
