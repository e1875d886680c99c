import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import fp from "fastify-plugin";

/** OpenAPI 3.1 at /openapi.json and Swagger UI at /docs, every asset served from node_modules. */
export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: "3.1.0",
        // Relative: the document is served by the gateway it describes, whatever its host and port.
        servers: [{ url: "/", description: "this gateway" }],
        info: {
          title: "BRAiN Event Gateway",
          version: "1.0.0",
          description:
            "Producers POST Charter v1.0 event envelopes; the gateway validates them and appends them to a Redis " +
            "stream. " +
            "Webhook subscribers each read through their own consumer group, with Standard Webhooks signatures and " +
            "Postgres dedup.",
        },
        components: {
          securitySchemes: {
            bearerAuth: {
              type: "http",
              scheme: "bearer",
              description: "BRAIN_API_TOKENS entry; scopes publish and admin",
            },
          },
        },
        tags: [
          { name: "events", description: "Ingest and browse events" },
          { name: "event-types", description: "The event-type registry: payload schemas enforced at ingest" },
          { name: "subscribers", description: "Webhook subscribers, deliveries and dead letters" },
          { name: "operations", description: "Health, metrics and docs" },
        ],
      },
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json["$id"] ?? `def-${i}`) },
    });
    await app.register(swaggerUi, { routePrefix: "/docs", uiConfig: { deepLinking: true }, staticCSP: true });
    app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  },
  { name: "docs", fastify: "5.x" },
);
