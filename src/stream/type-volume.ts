/**
 * Events accepted per type per minute, across every gateway process (GET /v1/activity/event-types).
 *
 * The ingest path only increments a Map in memory (`count`); every FLUSH_MS the process adds its
 * counts to one Redis hash per minute (keys.ts `typeVolume`: type → count, TTL a little over a
 * day) with one script per minute, which folds a type into `other` once the hash holds
 * MAX_TYPES types, so neither memory nor Redis grows with made-up types. Counts that could not be
 * flushed (Redis down) are kept and added on the next flush, while they are less than a day old.
 */
import type { RedisClient } from "./connections.js";
import type { StreamKeys } from "./keys.js";

/** Distinct types counted per minute; beyond it they are counted as `other`. */
export const MAX_TYPES = 1000;
export const OTHER = "other";
const FLUSH_MS = 5000;
const MINUTE_MS = 60_000;
/** A day and an hour: a day of minutes can be read back. */
const TTL_SECONDS = 25 * 3600;
const DAY_MINUTES = 1440;

/** KEYS[1] the minute's hash; ARGV: max types, TTL seconds, then type and count pairs. */
const ADD = `
local max = tonumber(ARGV[1])
for i = 3, #ARGV, 2 do
  local field = ARGV[i]
  if redis.call('hexists', KEYS[1], field) == 0 and redis.call('hlen', KEYS[1]) >= max then field = '${OTHER}' end
  redis.call('hincrby', KEYS[1], field, ARGV[i + 1])
end
redis.call('expire', KEYS[1], ARGV[2])`;

export interface VolumeReport {
  from: string;
  to: string;
  types: { type: string; total: number; minutes: { minute: string; count: number }[] }[];
}

export class TypeVolume {
  /** Minute → type → count not yet flushed. */
  private pending = new Map<number, Map<string, number>>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: StreamKeys,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  /** Counts `n` accepted events of `type` in the minute of `at` (now). */
  count(type: string, n: number, at = Date.now()): void {
    this.add(Math.floor(at / MINUTE_MS), type, n);
  }

  /** Starts flushing every FLUSH_MS. */
  start(): void {
    this.timer ??= setInterval(() => void this.flush().catch(this.onError), FLUSH_MS).unref();
  }

  /** Adds the counts so far to Redis; concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = null));
    return this.flushing;
  }

  /** Stops the timer and flushes what is left (best effort). */
  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.flush().catch(this.onError);
  }

  /** The last `minutes` minutes (the current one included), most events first. */
  async read(minutes: number, now = Date.now()): Promise<VolumeReport> {
    const last = Math.floor(now / MINUTE_MS);
    const first = last - minutes + 1;
    const pipeline = this.redis.pipeline();
    for (let m = first; m <= last; m++) pipeline.hgetall(this.keys.typeVolume(m));
    const replies = (await pipeline.exec()) ?? [];
    const byType = new Map<string, { total: number; minutes: { minute: string; count: number }[] }>();
    replies.forEach(([err, hash], i) => {
      if (err) throw err;
      const minute = new Date((first + i) * MINUTE_MS).toISOString();
      for (const [type, value] of Object.entries(hash as Record<string, string>)) {
        const count = Number(value);
        if (!(count > 0)) continue;
        let entry = byType.get(type);
        if (entry === undefined) byType.set(type, (entry = { total: 0, minutes: [] }));
        entry.total += count;
        entry.minutes.push({ minute, count });
      }
    });
    return {
      from: new Date(first * MINUTE_MS).toISOString(),
      to: new Date((last + 1) * MINUTE_MS).toISOString(),
      types: bounded(byType),
    };
  }

  private add(minute: number, type: string, n: number): void {
    let counts = this.pending.get(minute);
    if (counts === undefined) this.pending.set(minute, (counts = new Map()));
    const field = counts.has(type) || counts.size < MAX_TYPES ? type : OTHER;
    counts.set(field, (counts.get(field) ?? 0) + n);
  }

  private async write(): Promise<void> {
    const batch = this.pending;
    if (batch.size === 0) return;
    this.pending = new Map();
    const oldest = Math.floor(Date.now() / MINUTE_MS) - DAY_MINUTES;
    const failed: [number, Map<string, number>][] = [];
    let error: unknown;
    for (const [minute, counts] of batch) {
      const args = [MAX_TYPES, TTL_SECONDS, ...[...counts].flat()];
      try {
        await this.redis.eval(ADD, 1, this.keys.typeVolume(minute), ...args);
      } catch (err) {
        error ??= err;
        if (minute > oldest) failed.push([minute, counts]);
      }
    }
    for (const [minute, counts] of failed) for (const [type, n] of counts) this.add(minute, type, n);
    if (error !== undefined) throw error;
  }
}

/**
 * At most MAX_TYPES types, most events first; the rest are added to `other`. Different
 * processes and minutes may each have kept different types, so their union can be larger.
 */
function bounded(byType: Map<string, { total: number; minutes: { minute: string; count: number }[] }>) {
  const all = [...byType].map(([type, v]) => ({ type, ...v })).sort((a, b) => b.total - a.total);
  const kept = all.filter((t) => t.type !== OTHER).slice(0, MAX_TYPES);
  const keep = new Set(kept);
  const rest = all.filter((t) => !keep.has(t));
  if (rest.length > 0) {
    const perMinute = new Map<string, number>();
    for (const t of rest) for (const m of t.minutes) perMinute.set(m.minute, (perMinute.get(m.minute) ?? 0) + m.count);
    const minutes = [...perMinute].sort(([a], [b]) => (a < b ? -1 : 1)).map(([minute, count]) => ({ minute, count }));
    kept.push({ type: OTHER, total: rest.reduce((n, t) => n + t.total, 0), minutes });
    kept.sort((a, b) => b.total - a.total);
  }
  return kept;
}
