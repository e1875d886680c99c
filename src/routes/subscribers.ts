import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { errorResponses, ref, withHeaders } from "../schemas/common.js";
import {
  CreatedSubscriber,
  CreateSubscriber,
  RotatedSecret,
  Subscriber,
  SubscriberList,
  SubscriberName,
  UpdateSubscriber,
} from "../schemas/subscriber.js";
import {
  createSubscriber,
  deleteSubscriber,
  endSecretOverlap,
  getSubscriber,
  listSubscribers,
  rotateSecret,
  updateSubscriber,
  type AdminContext,
} from "../subscribers/admin.js";

const security = [{ bearerAuth: [] }];
const tags = ["subscribers"];
const config = { scope: "admin" as const };
const Params = Type.Object({ name: SubscriberName });

/** The subscriber API (docs/CONTRACT.md §3), admin scope; delivery history and redeliver are deliveries.ts. */
const subscriberRoutes: FastifyPluginAsyncTypebox = async (app) => {
  let context: AdminContext | undefined;
  // Built on first use: the OpenAPI generator registers these routes without Redis or Postgres.
  const ctx = (): AdminContext =>
    (context ??= {
      db: app.db,
      redis: app.redis,
      keys: app.keys,
      changedChannel: app.keys.subscribersChanged,
      config: app.config,
      onNotifyError: (err) =>
        app.log.warn(
          { err: err.message },
          "subscriber change not published; dispatchers pick it up on their next poll",
        ),
    });

  app.post(
    "/subscribers",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "createSubscriber",
        summary: "Register a webhook subscriber",
        description:
          "Creates the subscriber and its consumer group at `start_from`. The answer carries the signing `secret`: " +
          "it is shown only here and on rotation. URLs that resolve to anything but globally routable unicast " +
          "addresses are refused (400 URL_NOT_ALLOWED) unless BRAIN_WEBHOOK_ALLOW_PRIVATE=true. A name already " +
          "taken is 409.",
        body: ref(CreateSubscriber),
        response: {
          201: withHeaders(ref(CreatedSubscriber), {
            location: { type: "string", description: "the new subscriber's URL" },
          }),
          ...errorResponses(400, 401, 403, 409, 503),
        },
      },
    },
    async (request, reply) => {
      const created = await createSubscriber(ctx(), request.body);
      reply.code(201).header("location", `/v1/subscribers/${created.name}`);
      return created;
    },
  );

  app.get(
    "/subscribers",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "listSubscribers",
        summary: "List subscribers",
        description:
          "Every subscriber, by name, with live stats (pending and lag from the consumer group; delivered and " +
          "dead-lettered counts). Secrets are never shown.",
        response: { 200: ref(SubscriberList), ...errorResponses(401, 403, 503) },
      },
    },
    async () => ({ subscribers: await listSubscribers(ctx()) }),
  );

  app.get(
    "/subscribers/:name",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "getSubscriber",
        summary: "Get a subscriber",
        description: "One subscriber with live stats. The secret is never shown.",
        params: Params,
        response: { 200: ref(Subscriber), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request) => getSubscriber(ctx(), request.params.name),
  );

  app.patch(
    "/subscribers/:name",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "updateSubscriber",
        summary: "Change a subscriber",
        description:
          "Changes the given fields; the URL rules of create apply. Every gateway process picks the change up " +
          "within 5 s. " +
          "`enabled: false` pauses delivery: entries wait in the group until it is enabled again. An internal " +
          "consumer is configured by the code that runs it: 409.",
        params: Params,
        body: ref(UpdateSubscriber),
        response: { 200: ref(Subscriber), ...errorResponses(400, 401, 403, 404, 409, 414, 503) },
      },
    },
    async (request) => updateSubscriber(ctx(), request.params.name, request.body),
  );

  app.delete(
    "/subscribers/:name",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "deleteSubscriber",
        summary: "Delete a subscriber",
        description:
          "Removes the subscriber with its dedup rows, dead letters and delivery log, and destroys its consumer group.",
        params: Params,
        response: { 204: Type.Null({ description: "deleted" }), ...errorResponses(400, 401, 403, 404, 414, 503) },
      },
    },
    async (request, reply) => {
      await deleteSubscriber(ctx(), request.params.name);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/subscribers/:name/rotate-secret",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "rotateSubscriberSecret",
        summary: "Rotate the signing secret",
        description:
          "Generates a new secret. For the next 24 h each delivery also carries a signature with the old secret, so " +
          "receivers can switch without missing one. A secret rotated out earlier keeps signing until its own 24 h " +
          "end. While 10 rotated-out secrets still sign, a rotation is refused (409): end their overlap first. An " +
          "internal consumer has no secret (409).",
        params: Params,
        response: { 200: ref(RotatedSecret), ...errorResponses(400, 401, 403, 404, 409, 414, 503) },
      },
    },
    async (request) => rotateSecret(ctx(), request.params.name),
  );

  app.delete(
    "/subscribers/:name/previous-secrets",
    {
      config,
      schema: {
        tags,
        security,
        operationId: "endSubscriberSecretOverlap",
        summary: "End the overlap of rotated-out secrets",
        description:
          "Rotated-out secrets stop signing at once, before their 24 h end: from now on only the current secret " +
          "signs. For when an old secret leaked, or every receiver already switched. 409 for an internal consumer.",
        params: Params,
        response: {
          204: Type.Null({ description: "only the current secret signs" }),
          ...errorResponses(400, 401, 403, 404, 409, 414, 503),
        },
      },
    },
    async (request, reply) => {
      await endSecretOverlap(ctx(), request.params.name);
      return reply.code(204).send(null);
    },
  );
};

export default subscriberRoutes;
