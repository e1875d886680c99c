/**
 * `app.typeVolume`: this process's count of accepted events per type and minute, flushed to Redis
 * (stream/type-volume.ts). Ingest calls `count` from one place, the onResponse hook of
 * plugins/ingest-metrics.ts; the last counts are flushed on shutdown.
 */
import fp from "fastify-plugin";
import { TypeVolume } from "../stream/type-volume.js";

declare module "fastify" {
  interface FastifyInstance {
    typeVolume: TypeVolume;
  }
}

export default fp(
  async (app) => {
    const volume = new TypeVolume(app.redis, app.keys, (err) =>
      app.log.warn({ err: err.message }, "flushing event-type volume failed; kept for the next flush"),
    );
    volume.start();
    app.decorate("typeVolume", volume);
    // Runs before the redis plugin's onClose (reverse registration order), while Redis is still there.
    app.addHook("onClose", async () => volume.close());
  },
  { name: "type-volume", fastify: "5.x", dependencies: ["redis"] },
);
