/**
 * The timer every leased periodic job shares (the trimmer, ledger retention): one run at a time in
 * this process, failures logged once per outage, and on close the lease handed back at once so
 * another process takes over without waiting for its TTL.
 */
import type { FastifyInstance } from "fastify";

export interface LeasedJob {
  tick(): Promise<unknown>;
  release(): Promise<void>;
}

/** The lease outlives a few missed runs before another process takes over. */
const MIN_LEASE_MS = 10_000;

/** The TTL of a job's lease for a run every `intervalMs`. */
export const leaseTtl = (intervalMs: number): number => Math.max(3 * intervalMs, MIN_LEASE_MS);

export function runLeased(app: FastifyInstance, job: LeasedJob, intervalMs: number, failure: string): void {
  let running: Promise<void> | null = null;
  let failing = false;
  const tick = async () => {
    try {
      await job.tick();
      failing = false;
    } catch (err) {
      // Logged once per outage: while Redis or Postgres is down every run fails the same way.
      if (!failing) app.log.warn({ err: (err as Error).message }, failure);
      failing = true;
    }
  };
  const timer = setInterval(() => {
    running ??= tick().finally(() => (running = null));
  }, intervalMs);
  timer.unref();
  app.addHook("onClose", async () => {
    clearInterval(timer);
    await running;
    await job.release().catch(() => {});
  });
}
