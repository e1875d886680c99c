/**
 * Runs the stream trimmer every BRAIN_TRIM_INTERVAL_MS in every process, whatever its role: the
 * lease lets one of them work at a time, so a deployment of API-only and dispatcher-only
 * processes trims as long as any process is up.
 */
import fp from "fastify-plugin";
import { Lease } from "../stream/lease.js";
import { Trimmer } from "../stream/trimmer.js";

/** The lease outlives a few missed runs before another process takes over. */
const MIN_LEASE_MS = 10_000;

export default fp(
  async (app) => {
    const { trimIntervalMs, streamMaxLen } = app.config;
    if (trimIntervalMs === 0) return;
    const lease = new Lease(app.redis, app.keys.lock("trimmer"), Math.max(3 * trimIntervalMs, MIN_LEASE_MS));
    const trimmer = new Trimmer({
      redis: app.redis,
      db: app.db,
      keys: app.keys,
      maxLen: streamMaxLen,
      retentionMs: app.config.streamRetentionMs,
      metrics: app.metrics,
      log: app.log,
      lease,
    });
    let running: Promise<void> | null = null;
    let failing = false;
    const tick = async () => {
      try {
        await trimmer.tick();
        failing = false;
      } catch (err) {
        // Logged once per outage: while Redis or Postgres is down every run fails the same way.
        if (!failing) app.log.warn({ err: (err as Error).message }, "stream trimming failed; retrying every interval");
        failing = true;
      }
    };
    const timer = setInterval(() => {
      running ??= tick().finally(() => (running = null));
    }, trimIntervalMs);
    timer.unref();
    app.addHook("onClose", async () => {
      clearInterval(timer);
      await running;
      await trimmer.release().catch(() => {});
    });
  },
  { name: "trimmer", fastify: "5.x", dependencies: ["redis", "db"] },
);
