/**
 * Runs ledger retention (stream/ledger-retention.ts) every BRAIN_LEDGER_RETENTION_INTERVAL_MS in
 * every process, whatever its role; its own lease lets one process work at a time, apart from
 * the trimmer's so a long catch-up never holds trimming back.
 */
import fp from "fastify-plugin";
import { Lease } from "../stream/lease.js";
import { LedgerRetention } from "../stream/ledger-retention.js";
import { leaseTtl, runLeased } from "./leased-job.js";

const HOUR_MS = 3_600_000;

export default fp(
  async (app) => {
    const { ledgerRetentionIntervalMs: intervalMs, ledgerMinAgeHours, deadLetterRetentionHours } = app.config;
    if (intervalMs === 0) return;
    const retention = new LedgerRetention({
      redis: app.redis,
      db: app.db,
      keys: app.keys,
      minAgeMs: ledgerMinAgeHours * HOUR_MS,
      deadLetterRetentionMs: deadLetterRetentionHours * HOUR_MS,
      metrics: app.metrics,
      lease: new Lease(app.redis, app.keys.lock("ledger-retention"), leaseTtl(intervalMs)),
    });
    runLeased(app, retention, intervalMs, "ledger retention failed; retrying every interval");
  },
  { name: "ledger-retention", fastify: "5.x", dependencies: ["redis", "db"] },
);
