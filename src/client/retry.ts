/**
 * When the client tries again. Retrying a publish is safe because every event carries an id the
 * gateway remembers for 24 h: a repeat is answered with the original result, not appended
 * (docs/CONTRACT.md §3, ingest idempotency).
 */

export interface RetryOptions {
  /** Attempts in all, the first included; 1 never retries. Default 5. */
  attempts?: number;
  /** Backoff before the first retry, doubled for each further one; jittered. Default 200 ms. */
  baseDelayMs?: number;
  /** Cap on one backoff delay (a Retry-After is honoured beyond it). Default 5 s. */
  maxDelayMs?: number;
  /** Bound on the whole call, waits included; a retry that would start after it is not made. Default 30 s. */
  totalTimeMs?: number;
  /** Bound on one attempt, the response body included. Default 10 s. */
  attemptTimeoutMs?: number;
}

export type RetryPolicy = Required<RetryOptions>;

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  totalTimeMs: 30_000,
  attemptTimeoutMs: 10_000,
};

/**
 * 429 and 503 are the gateway's "come back later" (rate limits, overload, Redis down: nothing was
 * written). 502 and 504 come from proxies in front of it, where the gateway may or may not have
 * appended: the id makes the retry safe either way. Any other status is final.
 */
export const RETRY_STATUS: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** The policy for `retry`: `false` is one attempt; omitted fields take the defaults. */
export function retryPolicy(retry: RetryOptions | false | undefined): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...(retry === false ? { attempts: 1 } : retry) };
  for (const [name, value] of Object.entries(policy)) {
    const min = name === "attempts" || name.endsWith("TimeoutMs") || name === "totalTimeMs" ? 1 : 0;
    if (!Number.isFinite(value) || value < min) throw new RangeError(`retry.${name} must be a number ≥ ${min}`);
  }
  if (!Number.isInteger(policy.attempts)) throw new RangeError("retry.attempts must be an integer");
  return policy;
}

/**
 * The wait asked for by a Retry-After header, in ms: delta-seconds or an HTTP date
 * (RFC 9110 §10.2.3). Undefined when absent or unreadable.
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // An HTTP date names its day and month; Date.parse alone would read "-1" as a year.
  if (!/[A-Za-z]/.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The wait before retry number `retry` (1-based). Backoff is exponential with "equal jitter"
 * (half fixed, half random), so clients failing together spread out yet never retry at once.
 * A server's Retry-After is honoured, plus up to 10 % (at most 1 s) so that clients told the same
 * time do not all return in the same instant.
 */
export function retryDelay(policy: RetryPolicy, retry: number, serverWaitMs?: number, random = Math.random): number {
  if (serverWaitMs !== undefined) return serverWaitMs + random() * Math.min(1000, serverWaitMs / 10);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return ceiling / 2 + (random() * ceiling) / 2;
}
