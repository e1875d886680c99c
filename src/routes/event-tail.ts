import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { errors, withDetails } from "../errors.js";
import { MAX_TAILS } from "../plugins/event-tail.js";
import { errorResponses, StreamId } from "../schemas/common.js";
import { EventTypeName } from "../schemas/envelope.js";
import { HEARTBEAT_MS, OVERFLOW_BYTES } from "../stream/tail.js";

/** GET /v1/events/tail: new events as server-sent events (admin). */
const eventTailRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/events/tail",
    {
      config: { scope: "admin" },
      schema: {
        tags: ["events"],
        operationId: "tailEvents",
        summary: "Live tail of the stream (server-sent events)",
        description:
          "A `text/event-stream` of new entries, optionally of one exact `type`: for each, `id: <stream id>`, " +
          '`event: event` and `data: {"stream_message_id":…,"event":{…}}`. It resumes strictly after the ' +
          "`Last-Event-ID` header (or the `after` query parameter, the header winning), else starts after the " +
          "newest entry. With several partitions, events come in (milliseconds, sequence, partition) order; an " +
          "entry is sent once the Redis clock of every partition has passed its millisecond (held at most 1 s), so " +
          "a resume misses nothing unless ids run more than 1 s ahead of a clock. " +
          `A comment line (\`: heartbeat\`) comes every ${HEARTBEAT_MS / 1000} s. A client that lets ` +
          `more than ${OVERFLOW_BYTES / 1024 / 1024} MiB wait unread is sent \`event: overflow\` and the response ` +
          "ends: reconnect with Last-Event-ID. The response also ends when the gateway shuts down. At most " +
          `${MAX_TAILS} tails are open per gateway process (more: 503 \`OVERLOADED\`). The bearer token goes in ` +
          "the Authorization header, so read it with fetch() streaming rather than EventSource.",
        security: [{ bearerAuth: [] }],
        headers: Type.Object({ "last-event-id": Type.Optional(StreamId) }),
        querystring: Type.Object({
          type: Type.Optional(EventTypeName),
          after: Type.Optional(StreamId),
        }),
        response: {
          200: {
            description: "server-sent events, until the client leaves, an overflow or shutdown",
            content: { "text/event-stream": { schema: Type.String() } },
          },
          ...errorResponses(400, 401, 403, 503),
        },
      },
    },
    async (request, reply) => {
      const header = request.headers["last-event-id"];
      const from = header ?? request.query.after;
      const path = header === undefined ? "/after" : "/headers/last-event-id";
      const after = from === undefined ? undefined : app.keys.locate(from);
      if (after === null) {
        throw withDetails(new errors.InvalidRequest("the resume point must be a stream id of this stream"), [
          { path, message: `does not name an entry of a stream with ${app.keys.partitions.length} partition(s)` },
        ]);
      }
      await app.eventTails.serve(reply, { type: request.query.type, after });
      return reply;
    },
  );
};

export default eventTailRoutes;
