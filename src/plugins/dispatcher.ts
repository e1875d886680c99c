import fp from "fastify-plugin";
import { Dispatcher } from "../delivery/dispatcher.js";
import { closeConnection, deliveryConnection } from "../stream/connections.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Webhook delivery of this process (roles `all` and `dispatcher` only). */
    dispatcher: Dispatcher;
  }
}

/**
 * Runs the dispatcher in this process, with two Redis connections of its own (commands, and the
 * change channel) that it creates and closes; the dispatcher adds the stream watcher's blocking
 * one (one per partition in cluster mode). It starts once migrations are applied (at once in
 * `required` mode, when Postgres is back in `degraded` mode) and closes before Redis and Postgres
 * do (onClose runs in reverse registration order), so in-flight deliveries can settle.
 */
export default fp(
  async (app) => {
    const redis = deliveryConnection(app.config.redisUrl, app.config.redisMode);
    const changes = deliveryConnection(app.config.redisUrl, app.config.redisMode, "changes");
    const dispatcher = new Dispatcher({
      config: app.config,
      keys: app.keys,
      db: app.db,
      redis,
      changes,
      changeChannel: app.keys.subscribersChanged,
      client: app.webhooks,
      metrics: app.metrics,
      log: app.log.child({ component: "dispatcher" }),
    });
    app.decorate("dispatcher", dispatcher);
    app.addHook("onReady", async () => {
      // Not awaited: in degraded mode Postgres may come back only much later.
      void app.dbReady
        .then(() => dispatcher.start())
        .catch((err: Error) => app.log.error({ err: err.message }, "dispatcher failed to start"));
    });
    app.addHook("onClose", async () => {
      await dispatcher.close(app.config.shutdownTimeoutMs);
      changes.disconnect();
      await closeConnection(redis);
    });
  },
  { name: "dispatcher", fastify: "5.x", dependencies: ["redis", "db", "webhook-client"] },
);
