import fp from "fastify-plugin";
import { maskUrl } from "../config.js";
import { StartupError } from "../errors.js";
import { EventTypeRegistry } from "../ingest/registry.js";

declare module "fastify" {
  interface FastifyInstance {
    /** This process's copy of the event-type registry, enforced at ingest. */
    eventTypes: EventTypeRegistry;
  }
}

/**
 * The event-type registry of this process over the request connection: loaded before the gateway
 * serves (in `required` mode a failed load stops the start-up, as Redis itself would have), polled
 * until close. In `degraded` mode it loads once Redis answers; ingest waits for that load
 * (ingest/type-rules.ts), so no event passes unchecked meanwhile.
 */
export default fp(
  async (app) => {
    const registry = new EventTypeRegistry(app.redis, app.keys, app.log.child({ component: "event-types" }));
    app.decorate("eventTypes", registry);
    app.addHook("onClose", async () => {
      await registry.stop();
    });
    if (app.config.mode !== "required") {
      registry.start().catch(() => {});
      return;
    }
    try {
      await registry.start();
    } catch (err) {
      throw new StartupError(
        `cannot load the event-type registry from Redis at ${maskUrl(app.config.redisUrl)} ` +
          `(${(err as Error).message}); the event stream is required (ADR-001)`,
      );
    }
  },
  { name: "event-types", fastify: "5.x", dependencies: ["redis"] },
);
