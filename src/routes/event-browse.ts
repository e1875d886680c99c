import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { entryDeliveries } from "../db/entry-deliveries.js";
import { errors, redisFailure, withDetails } from "../errors.js";
import { errorResponses, ref, StreamId } from "../schemas/common.js";
import { EventPage, EventTypeName } from "../schemas/envelope.js";
import { EventDetail, EventIdFilter } from "../schemas/event-browse.js";
import { browse, PAGE_MAX_BYTES, SCAN_MAX_BYTES, SCAN_MAX_ENTRIES } from "../stream/browse.js";
import { readEntry } from "../stream/entries.js";

const security = [{ bearerAuth: [] }];
const config = { scope: "admin" as const };

/** The partition and id of a stream id given by the client, or a 400 naming the parameter. */
function locate(app: FastifyInstance, id: string, path: string) {
  const at = app.keys.locate(id);
  if (at !== null) return at;
  const shape = app.keys.partitions.length === 1 ? "<ms>-<seq>" : "<partition>:<ms>-<seq>";
  throw withDetails(new errors.InvalidRequest(`${path.slice(1)} must be a stream id of this stream, ${shape}`), [
    { path, message: `does not name an entry of a stream with ${app.keys.partitions.length} partition(s)` },
  ]);
}

const onlyWith = (param: string, order: string) =>
  withDetails(new errors.InvalidRequest(`${param} goes only with order=${order}`), [
    { path: `/${param}`, message: `not allowed with this order; use ${param === "after" ? "before" : "after"}` },
  ]);

/** GET /v1/events (browse and search) and GET /v1/events/{stream_message_id} (one entry and its deliveries). */
const eventBrowseRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/events",
    {
      config,
      schema: {
        tags: ["events"],
        operationId: "listEvents",
        summary: "Browse the stream",
        description:
          "`order=oldest` (default): entries strictly after `after`, oldest first; with several partitions " +
          "(BRAIN_STREAM_PARTITIONS) partition by partition, each oldest first. `order=newest`: entries strictly " +
          "before `before`, newest first, merged across partitions by (milliseconds, sequence, partition). Ids " +
          "carry their partition when there are several (`3:1732640000000-0`). `type` and `event_id` keep only " +
          `exact matches; a filtered request scans at most ${SCAN_MAX_ENTRIES.toLocaleString("en")} entries ` +
          `(and ${SCAN_MAX_BYTES / 1024 / 1024} MiB of them), so its page may hold fewer than \`limit\` events, ` +
          "even none, while `next` says where to continue. A page holds at most `limit` events and about " +
          `${PAGE_MAX_BYTES / 1024 / 1024} MiB of them (always at least one). Continue with \`after\` (oldest) or ` +
          "`before` (newest) = `next`; newest first, `next` is null once the oldest entry was scanned. Entries " +
          "without meta show the default meta.",
        security,
        querystring: Type.Object({
          order: Type.Optional(
            Type.Union([Type.Literal("oldest"), Type.Literal("newest")], { description: "`oldest` when absent" }),
          ),
          after: Type.Optional({ ...StreamId, description: "only with order=oldest" }),
          before: Type.Optional({ ...StreamId, description: "only with order=newest" }),
          type: Type.Optional({ ...EventTypeName, description: "an exact event type" }),
          event_id: Type.Optional(EventIdFilter),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "100 when absent" })),
        }),
        response: { 200: ref(EventPage), ...errorResponses(400, 401, 403, 503) },
      },
    },
    async (request, reply) => {
      const { order = "oldest", after, before, type, event_id: eventId, limit = 100 } = request.query;
      if (order === "oldest" && before !== undefined) throw onlyWith("before", "newest");
      if (order === "newest" && after !== undefined) throw onlyWith("after", "oldest");
      const given = order === "oldest" ? after : before;
      const cursor = given === undefined ? undefined : locate(app, given, order === "oldest" ? "/after" : "/before");
      let page;
      try {
        page = await browse(app.redis, app.keys.partitions, {
          order,
          cursor,
          type,
          eventId,
          limit,
          largest: app.config.maxEnvelopeBytes,
        });
      } catch (cause) {
        throw redisFailure(cause);
      }
      const body = `{"events":[${page.events.join(",")}],"next":${JSON.stringify(page.next)}}`;
      return reply.type("application/json; charset=utf-8").send(body as never);
    },
  );

  app.get(
    "/events/:stream_message_id",
    {
      config,
      schema: {
        tags: ["events"],
        operationId: "getEvent",
        summary: "One event and its deliveries",
        description:
          "The stored entry and, for each subscriber that delivered or dead-lettered it, the outcome and when. " +
          "404 when the stream no longer holds the entry (trimmed) or never did.",
        security,
        params: Type.Object({ stream_message_id: StreamId }),
        response: { 200: ref(EventDetail), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request, reply) => {
      const id = request.params.stream_message_id;
      const at = locate(app, id, "/stream_message_id");
      let entry;
      try {
        entry = await readEntry(app.redis, at.partition.stream, at.id);
      } catch (cause) {
        throw redisFailure(cause);
      }
      if (entry === null) throw new errors.NotFound(`the stream holds no entry ${id} (trimmed, or never appended)`);
      const deliveries = await entryDeliveries(app.db, id);
      const rows = deliveries.map((d) => ({
        subscriber: d.subscriber,
        outcome: d.outcome,
        processed_at: d.processedAt.toISOString(),
      }));
      // The envelope goes out as stored, not re-serialized (as GET /v1/events does).
      const body = `{"stream_message_id":${JSON.stringify(id)},"event":${entry.json},"deliveries":`;
      return reply.type("application/json; charset=utf-8").send(`${body}${JSON.stringify(rows)}}` as never);
    },
  );
};

export default eventBrowseRoutes;
