import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import {
  deleteEventType,
  getEventType,
  listEventTypes,
  MAX_EVENT_TYPES,
  putEventType,
  type EventTypeAdmin,
} from "../ingest/event-types.js";
import { errorResponses, ref, withHeaders } from "../schemas/common.js";
import { EventTypeName } from "../schemas/envelope.js";
import { EventTypeInfo, EventTypeList, PutEventType } from "../schemas/event-type.js";

const security = [{ bearerAuth: [] }];
const tags = ["event-types"];
const config = { scope: "admin" as const };
const Params = Type.Object({ type: EventTypeName });

/** The event-type registry (docs/CONTRACT.md §7), admin scope. */
const eventTypeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  let admin: EventTypeAdmin | undefined;
  // Built on first use: the OpenAPI generator registers these routes without Redis.
  const ctx = (): EventTypeAdmin => (admin ??= { redis: app.redis, keys: app.keys, registry: app.eventTypes });

  app.put(
    "/event-types/:type",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "putEventType",
        summary: "Register an event type with its payload schema",
        description:
          "Creates the type (201) or replaces it (200, `created_at` kept). From then on every event of this type " +
          "(POST /v1/events, the batch, the in-process publisher) must carry a payload that matches `schema`, else " +
          "400 `PAYLOAD_SCHEMA_MISMATCH` with a JSON pointer per problem and nothing written. This gateway process " +
          "enforces the change before it answers, every other within 5 s. A deprecated type is still accepted. " +
          "A schema that is not a compilable JSON Schema 2020-12 object (at most 64 KiB) is 400 `INVALID_REQUEST`; " +
          `a new type while ${MAX_EVENT_TYPES} are registered is 409.`,
        params: Params,
        body: ref(PutEventType),
        response: {
          200: ref(EventTypeInfo),
          201: withHeaders(ref(EventTypeInfo), {
            location: { type: "string", description: "the new event type's URL" },
          }),
          ...errorResponses(400, 401, 403, 409, 413, 414, 415, 503),
        },
      },
    },
    async (request, reply) => {
      const { created, eventType } = await putEventType(ctx(), request.params.type, request.body);
      if (created) reply.code(201).header("location", `/v1/event-types/${eventType.type}`);
      return eventType;
    },
  );

  app.get(
    "/event-types",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "listEventTypes",
        summary: "List registered event types",
        description: "Every registered type with its schema, sorted by type.",
        response: { 200: ref(EventTypeList), ...errorResponses(401, 403, 503) },
      },
    },
    async () => ({ event_types: await listEventTypes(ctx()) }),
  );

  app.get(
    "/event-types/:type",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "getEventType",
        summary: "Get a registered event type",
        description: "The type's description, payload schema, deprecation flag and times, as registered.",
        params: Params,
        response: { 200: ref(EventTypeInfo), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request) => getEventType(ctx(), request.params.type),
  );

  app.delete(
    "/event-types/:type",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "deleteEventType",
        summary: "Delete a registered event type",
        description:
          "From then on events of this type are no longer checked (or, with BRAIN_REQUIRE_REGISTERED_TYPES, " +
          "refused as 400 `UNKNOWN_EVENT_TYPE`): here at once, in every other gateway process within 5 s.",
        params: Params,
        response: { 204: Type.Null({ description: "deleted" }), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request, reply) => {
      await deleteEventType(ctx(), request.params.type);
      return reply.code(204).send(null);
    },
  );
};

export default eventTypeRoutes;
