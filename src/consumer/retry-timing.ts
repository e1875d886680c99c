/**
 * Retry timing, as pure functions (unit-tested without Redis): the delay after a failed attempt
 * follows the schedule (BRAIN_RETRY_SCHEDULE, its last delay repeating), jittered ±20 % so that
 * entries that failed together do not retry in lockstep; a receiver's Retry-After wins, capped at
 * the schedule's longest delay so a hostile answer cannot park an entry forever.
 */

/** Fraction of the scheduled delay by which a retry may come earlier or later. */
export const JITTER = 0.2;

/**
 * Milliseconds to wait after failed attempt `attempt` (1-based). `retryAfterMs`, when the
 * receiver sent one, replaces the jittered schedule but never exceeds its longest delay.
 */
export function retryDelayMs(
  schedule: number[],
  attempt: number,
  retryAfterMs: number | null = null,
  random = Math.random,
): number {
  const longest = Math.max(0, ...schedule);
  if (retryAfterMs !== null) return Math.min(Math.max(0, retryAfterMs), longest);
  const base = schedule[Math.min(Math.max(attempt, 1), schedule.length) - 1] ?? 0;
  return Math.round(base * (1 - JITTER + 2 * JITTER * random()));
}

/**
 * Parses a Retry-After header: delta-seconds or an HTTP date. Returns milliseconds from `now`,
 * or null when absent or unparseable (the schedule then applies).
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return null;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}
