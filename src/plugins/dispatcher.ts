import fp from "fastify-plugin";
import { Dispatcher } from "../delivery/dispatcher.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Webhook delivery of this process (roles `all` and `dispatcher` only). */
    dispatcher: Dispatcher;
  }
}

/**
 * Runs the dispatcher in this process. It starts once migrations are applied (at once in
 * `required` mode, when Postgres is back in `degraded` mode) and closes before Redis and
 * Postgres do (onClose runs in reverse registration order), so in-flight deliveries can settle.
 */
export default fp(
  async (app) => {
    const dispatcher = new Dispatcher({ config: app.config, db: app.db, keys: app.keys, metrics: app.metrics, log: app.log.child({ component: "dispatcher" }) });
    app.decorate("dispatcher", dispatcher);
    app.addHook("onReady", async () => {
      // Not awaited: in degraded mode Postgres may come back only much later.
      void app.dbReady.then(() => dispatcher.start()).catch((err: Error) => app.log.error({ err: err.message }, "dispatcher failed to start"));
    });
    app.addHook("onClose", async () => {
      await dispatcher.close(app.config.shutdownTimeoutMs);
    });
  },
  { name: "dispatcher", fastify: "5.x", dependencies: ["redis", "db"] },
);
