import fp from "fastify-plugin";
import { ReplayWorker } from "../delivery/replay-worker.js";

/**
 * Runs replays in this process (roles `all` and `dispatcher`), once migrations are applied, and
 * stops them before Redis and Postgres close (onClose runs in reverse registration order).
 */
export default fp(
  async (app) => {
    const worker = new ReplayWorker({
      db: app.db,
      redis: app.redis,
      keys: app.keys,
      client: app.webhooks,
      secretKey: app.config.secretKey,
      metrics: app.metrics,
      log: app.log.child({ component: "replays" }),
    });
    app.addHook("onReady", async () => {
      // Not awaited: in degraded mode Postgres may come back only much later.
      void app.dbReady
        .then(() => worker.start())
        .catch((err: Error) => app.log.error({ err: err.message }, "replays failed to start"));
    });
    app.addHook("onClose", () => worker.close(app.config.shutdownTimeoutMs));
  },
  { name: "replays", fastify: "5.x", dependencies: ["redis", "db", "webhook-client"] },
);
