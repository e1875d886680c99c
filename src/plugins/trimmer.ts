/**
 * Runs the stream trimmer every BRAIN_TRIM_INTERVAL_MS in every process, whatever its role: the
 * lease lets one of them work at a time, so a deployment of API-only and dispatcher-only
 * processes trims as long as any process is up.
 */
import fp from "fastify-plugin";
import { Lease } from "../stream/lease.js";
import { Trimmer } from "../stream/trimmer.js";
import { leaseTtl, runLeased } from "./leased-job.js";

export default fp(
  async (app) => {
    const { trimIntervalMs, streamMaxLen } = app.config;
    if (trimIntervalMs === 0) return;
    const lease = new Lease(app.redis, app.keys.lock("trimmer"), leaseTtl(trimIntervalMs));
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
    runLeased(app, trimmer, trimIntervalMs, "stream trimming failed; retrying every interval");
  },
  { name: "trimmer", fastify: "5.x", dependencies: ["redis", "db"] },
);
