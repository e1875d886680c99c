import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { batchTooLarge, ingestBatch, ingestOne, type IngestContext } from "../ingest/ingest.js";
import { errorResponses, ref, withHeaders } from "../schemas/common.js";
import { Accepted, BatchAccepted, BatchRequest, envelopeRef } from "../schemas/envelope.js";

const security = [{ bearerAuth: [] }];

const IdempotencyHeaders = Type.Object({
  "idempotency-key": Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: "^[\\x21-\\x7e]+$",
      description: "replays the original result for 24 h",
    }),
  ),
});

/** POST /v1/events and POST /v1/events/batch (browsing is routes/event-browse.ts). */
const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const limits = { maxEnvelopeBytes: app.config.maxEnvelopeBytes, maxBatch: app.config.maxBatch };
  let context: IngestContext | undefined;
  // Built on first use: the OpenAPI generator registers these routes without Redis.
  const ctx = (): IngestContext =>
    (context ??= {
      publisher: app.publisher,
      limits,
      types: { registry: app.eventTypes, requireRegistered: app.config.requireRegisteredTypes },
    });
  // No access-log lines for ingest at LOG_LEVEL=info: two lines per event cost about a quarter
  // of the gateway's CPU per request (bench/RESULTS.md); brain_ingest_* metrics count and time
  // every request instead, and failures (5xx) are still logged. debug/trace keep the lines.
  const ingestLog = app.log.level === "info" ? { logLevel: "warn" as const } : {};

  app.post(
    "/events",
    {
      ...ingestLog,
      config: { scope: "publish", validationCode: "INVALID_ENVELOPE" },
      schema: {
        tags: ["events"],
        operationId: "publishEvent",
        summary: "Publish one event",
        description:
          "Validates one envelope and appends it to the stream; 202 once Redis acknowledged the append. " +
          "With an Idempotency-Key header (or, failing that, a body id) accepted in the last 24 h the original " +
          "result is " +
          "answered 200 with `Idempotent-Replayed: true` and nothing is appended; the same key with another body " +
          "is 422. The payload of a registered type (PUT /v1/event-types/{type}) must match its schema, else 400 " +
          "`PAYLOAD_SCHEMA_MISMATCH` (`details[].path` like `/payload/mission_id`); a type not registered is 400 " +
          "`UNKNOWN_EVENT_TYPE` when BRAIN_REQUIRE_REGISTERED_TYPES is on. Deprecated types are accepted.",
        security,
        headers: IdempotencyHeaders,
        body: envelopeRef,
        response: {
          202: ref(Accepted),
          200: withHeaders(ref(Accepted), {
            "idempotent-replayed": { type: "string", description: "`true`: nothing was appended" },
          }),
          ...errorResponses(400, 401, 403, 413, 415, 422, 503),
        },
      },
    },
    async (request, reply) => {
      const key = request.headers["idempotency-key"];
      const r = await ingestOne(ctx(), request.body, key, request.credentialId);
      const replayed = r.outcome === "replayed";
      app.ingestMetrics.taken(request, request.body.type, replayed);
      if (replayed) reply.code(200).header("idempotent-replayed", "true");
      else reply.code(202);
      return { id: r.eventId, stream_message_id: r.streamMessageId };
    },
  );

  app.post(
    "/events/batch",
    {
      ...ingestLog,
      config: { scope: "publish", validationCode: "INVALID_ENVELOPE" },
      schema: {
        tags: ["events"],
        operationId: "publishEvents",
        summary: "Publish a batch of events",
        description:
          "Validates every envelope first: any invalid one answers 400 with `details[].path` such as " +
          "`/events/3/meta` and " +
          "nothing is written. Otherwise all are appended atomically, in order. An event whose id was accepted in " +
          "the last 24 h " +
          "is not appended again; its result carries the original stream id and `replayed: true`. An id accepted " +
          "with a different body is 422 (`details[].path` `/events/<i>/id`) and nothing is appended. More events " +
          "than BRAIN_MAX_BATCH is 400 `BATCH_TOO_LARGE` before any event is validated. Payloads of registered types " +
          "are checked as in POST /v1/events (`details[].path` like `/events/3/payload/mission_id`).",
        security,
        body: ref(BatchRequest),
        response: { 202: ref(BatchAccepted), ...errorResponses(400, 401, 403, 413, 415, 422, 503) },
      },
      // Before validation: validating (and reporting on) hundreds of thousands of items first is the
      // costly part of refusing a hostile batch.
      preValidation: async (request) => {
        const events = (request.body as { events?: unknown } | null)?.events;
        if (Array.isArray(events) && events.length > limits.maxBatch)
          throw batchTooLarge(events.length, limits.maxBatch);
      },
    },
    async (request, reply) => {
      const { events } = request.body;
      const results = await ingestBatch(ctx(), events, request.credentialId);
      results.forEach((r, i) => app.ingestMetrics.taken(request, events[i]!.type, r.outcome === "replayed"));
      reply.code(202);
      return {
        results: results.map((r) =>
          r.outcome === "replayed"
            ? { id: r.eventId, stream_message_id: r.streamMessageId, replayed: true }
            : { id: r.eventId, stream_message_id: r.streamMessageId },
        ),
      };
    },
  );
};

export default eventRoutes;
