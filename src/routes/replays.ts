import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { errorResponses, ref } from "../schemas/common.js";
import { CreateReplay, Replay, ReplayList } from "../schemas/replay.js";
import { SubscriberName } from "../schemas/subscriber.js";
import {
  cancelSubscriberReplay,
  createReplay,
  listSubscriberReplays,
  showReplay,
  type ReplayContext,
} from "../subscribers/replays.js";

const security = [{ bearerAuth: [] }];
const tags = ["subscribers"];
const config = { scope: "admin" as const };
const Params = Type.Object({ name: SubscriberName });
const OneParams = Type.Object({ name: SubscriberName, id: Type.String({ format: "uuid" }) });

/** Replays: re-sending a range of the stream to one subscriber (admin). */
const replayRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Built per request: the OpenAPI generator registers routes without Redis or Postgres.
  const ctx = (): ReplayContext => ({ db: app.db, redis: app.redis, keys: app.keys });

  app.post(
    "/subscribers/:name/replays",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "createReplay",
        summary: "Replay a range of the stream to a subscriber",
        description:
          "Re-sends the stored entries from `from` to `to` (inclusive) that the subscriber wants (narrowed by " +
          "`event_types`), each signed as usual with `webhook-id` = its stream id and `x-brain-replay` = the " +
          "replay's id, at most `max_per_second` a second; a dispatcher takes it up within about a second. It " +
          "bypasses the dedup ledger and writes no dedup rows or dead letters: live delivery is unaffected. A " +
          "transient failure is retried twice (after 0.5 s and 2 s), then the entry counts as `failed`. After a " +
          "process dies, another resumes from the last saved chunk: at least once. 409 REPLAY_RANGE_TRIMMED when " +
          "part of the range is no longer stored (the details name the oldest entry kept); 409 CONFLICT for an " +
          "internal consumer or a subscriber with 5 replays pending or running.",
        params: Params,
        body: ref(CreateReplay),
        response: { 202: ref(Replay), ...errorResponses(400, 401, 403, 404, 409, 413, 414, 415, 503) },
      },
    },
    async (request, reply) => reply.code(202).send(await createReplay(ctx(), request.params.name, request.body)),
  );

  app.get(
    "/subscribers/:name/replays",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "listReplays",
        summary: "Replays of a subscriber",
        description: "The newest `limit` replays, newest first, with their state and counts.",
        params: Params,
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: "20 when absent" })),
        }),
        response: { 200: ref(ReplayList), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request) => ({
      replays: await listSubscriberReplays(ctx(), request.params.name, request.query.limit ?? 20),
    }),
  );

  app.get(
    "/subscribers/:name/replays/:id",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "getReplay",
        summary: "One replay",
        description: "State, counts and the position reached in each partition.",
        params: OneParams,
        response: { 200: ref(Replay), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request) => showReplay(ctx(), request.params.name, request.params.id),
  );

  app.delete(
    "/subscribers/:name/replays/:id",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "cancelReplay",
        summary: "Cancel a replay",
        description:
          "Cancels a pending or running replay: no request of it starts more than about a second later (requests " +
          "already open finish). Idempotent; a finished replay stays as it was. Answers the replay as it is now.",
        params: OneParams,
        response: { 200: ref(Replay), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request) => cancelSubscriberReplay(ctx(), request.params.name, request.params.id),
  );
};

export default replayRoutes;
