/**
 * Runs replays in a dispatcher process: polls `replays` every POLL_MS for one no process holds
 * (db/replays.ts claims it with FOR UPDATE SKIP LOCKED and a lease), up to MAX_RUNS at once, each
 * as a ReplayRun. Replays read the stream over the shared command connection: no Redis connection
 * of their own, whatever their number.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { claimReplay } from "../db/replays.js";
import { REPLAY_LEASE_MS, ReplayRun, type ReplayDeps } from "./replay.js";

const POLL_MS = 1000;
/** Replays this process runs at once; more wait for another process or a free run. */
const MAX_RUNS = 4;

export class ReplayWorker {
  private readonly deps: ReplayDeps;
  private readonly runs = new Map<string, ReplayRun>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private closing = false;
  private failing = false;

  constructor(deps: Omit<ReplayDeps, "owner">) {
    this.deps = { ...deps, owner: randomUUID() };
  }

  start(): void {
    if (this.closing || this.timer !== null) return;
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.poll();
  }

  private poll(): void {
    this.polling ??= this.claim().finally(() => (this.polling = null));
  }

  private async claim(): Promise<void> {
    try {
      while (!this.closing && this.runs.size < MAX_RUNS) {
        const row = await claimReplay(this.deps.db, this.deps.owner, REPLAY_LEASE_MS, [...this.runs.keys()]);
        if (row === null || this.closing) break;
        const run = new ReplayRun(this.deps, row);
        this.runs.set(run.id, run);
        void run.done.finally(() => this.runs.delete(run.id));
      }
      this.failing = false;
    } catch (err) {
      // Logged once per outage: while Postgres is down every poll fails the same way.
      if (!this.failing) this.deps.log.warn({ err: (err as Error).message }, "polling for replays failed");
      this.failing = true;
    }
  }

  /**
   * Stops polling and every run; each releases its lease so another process resumes it at once.
   * Waits at most `timeoutMs` for requests in flight; a run still waiting then keeps its lease
   * until it lapses, and its chunk is sent again (at least once).
   */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.timer !== null) clearInterval(this.timer);
    await this.polling;
    for (const run of this.runs.values()) run.halt("shutdown");
    const deadline = sleep(timeoutMs, undefined, { ref: false });
    await Promise.race([Promise.all([...this.runs.values()].map((r) => r.done)), deadline]);
  }
}
