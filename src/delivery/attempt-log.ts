/**
 * The delivery log (`delivery_attempts`, served by GET /v1/subscribers/{name}/deliveries):
 * attempts are buffered and written with one INSERT per flush, off the delivery path, and rows
 * older than BRAIN_DELIVERY_RETENTION_HOURS are deleted hourly so the table cannot grow forever.
 * It is an audit trail, not a source of truth: while Postgres is down the buffer is kept up to
 * a bound, then the oldest rows are dropped.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Db } from "../db/client.js";
import { insertAttempts, pruneAttempts, type AttemptRow } from "../db/delivery-attempts.js";

const FLUSH_MS = 250;
const FLUSH_ROWS = 500;
const MAX_BUFFER = 10_000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

export class AttemptLog {
  private buffer: AttemptRow[] = [];
  private flushing: Promise<void> | null = null;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly db: Db,
    private readonly retentionHours: number,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    this.timers.push(setInterval(() => void this.flush(), FLUSH_MS).unref());
    this.timers.push(setInterval(() => void this.prune(), PRUNE_EVERY_MS).unref());
    void this.prune();
  }

  record(row: AttemptRow): void {
    row.at ??= new Date();
    this.buffer.push(row);
    if (this.buffer.length > MAX_BUFFER) this.buffer.splice(0, this.buffer.length - MAX_BUFFER);
    // At high rates rows are written before they outlive two young-generation GCs: promoted to
    // the old generation, they would only be freed by a full GC and grow the process meanwhile.
    else if (this.buffer.length >= FLUSH_ROWS) void this.flush();
  }

  /** Writes what is buffered; concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= (async () => {
      const rows = this.buffer.splice(0);
      if (rows.length === 0) return;
      try {
        await insertAttempts(this.db, rows);
      } catch (err) {
        this.buffer.unshift(...rows.slice(-(MAX_BUFFER - this.buffer.length)));
        this.log.warn({ err: (err as Error).message }, "writing the delivery log failed; will retry");
      }
    })().finally(() => (this.flushing = null));
    return this.flushing;
  }

  /** Deletes attempts older than the retention period. */
  async prune(): Promise<void> {
    const cutoff = new Date(Date.now() - this.retentionHours * 3_600_000);
    await pruneAttempts(this.db, cutoff).catch((err: Error) =>
      this.log.warn({ err: err.message }, "pruning the delivery log failed"),
    );
  }

  /** Stops the timers and writes what is left. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.flush();
  }
}
