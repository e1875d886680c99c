/**
 * The outgoing HTTP client: one keep-alive undici Agent per process whose connections resolve
 * names through the SSRF guard, so a socket only ever opens to an address that was checked
 * (DNS rebinding between the create-time check and delivery is caught here). Redirects are never
 * followed: a 3xx is a permanent answer (docs/CONTRACT.md §4), as a redirect could lead past the guard.
 *
 * `send` makes one attempt and classifies it by the docs/CONTRACT.md §4 table; it never throws.
 */
import { readFileSync } from "node:fs";
import { Agent, type Dispatcher } from "undici";
import { parseRetryAfter } from "../consumer/retry-timing.js";
import { signatureHeaders } from "./signature.js";
import { createSsrfConnector } from "./ssrf.js";

/** A dead-letter reason a single answer can cause (the consumer adds `max_attempts_exceeded`, `trimmed`). */
export type PermanentReason = "permanent_status" | "gone" | "ssrf_blocked";

/** The class of one attempt's result, per the docs/CONTRACT.md §4 table. */
export type AttemptResult =
  | { kind: "success"; statusCode: number; durationMs: number }
  | { kind: "transient"; statusCode: number | null; error: string; retryAfterMs: number | null; durationMs: number }
  | { kind: "permanent"; reason: PermanentReason; statusCode: number | null; error: string; durationMs: number };

/** What one attempt sends. */
export interface WebhookRequest {
  url: string;
  subscriber: string;
  streamMessageId: string;
  eventId: string;
  eventType: string;
  /** The envelope JSON exactly as stored in the stream. */
  body: string;
  /** 1-based, counting across crashes and reclaims. */
  attempt: number;
  signingSecrets: string[];
  headers: Record<string, string>;
  timeoutMs: number;
}

/**
 * Names the gateway and its version to receivers and their logs. package.json is two levels up
 * from this module both in src/ and in dist/.
 */
export const USER_AGENT = `brain-event-gateway/${
  (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version
}`;

/** True when the subscriber set its own User-Agent, which then replaces the gateway's. */
function hasUserAgent(headers: Record<string, string>): boolean {
  for (const name in headers) if (name.toLowerCase() === "user-agent") return true;
  return false;
}

/** Statuses that mean "try again later" (docs/CONTRACT.md §4); every other non-2xx is permanent. */
const TRANSIENT_STATUS = new Set([408, 425, 429]);
/** Response bytes read before the connection is dropped instead. */
const MAX_DRAIN_BYTES = 64 * 1024;

export class WebhookClient {
  private readonly agent: Agent;

  constructor(allowPrivate: boolean) {
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: null,
      // A connector, not just a lookup: Node skips lookup for IP-literal hosts, which must be checked too.
      connect: createSsrfConnector(allowPrivate),
    });
  }

  /**
   * Makes one signed POST and classifies the outcome. It uses undici's dispatch API rather than
   * `request()`: no response stream and no AbortSignal per attempt, which measured about a
   * quarter of the CPU of a delivery (bench/RESULTS.md). `timeoutMs` bounds the whole attempt.
   */
  send(req: WebhookRequest): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const headers: Record<string, string> = {
      ...req.headers,
      "content-type": "application/json",
      ...signatureHeaders(req.signingSecrets, req.streamMessageId, req.body),
      "x-brain-event-id": req.eventId,
      "x-brain-event-type": req.eventType,
      "x-brain-subscriber": req.subscriber,
      "x-brain-attempt": String(req.attempt),
    };
    if (!hasUserAgent(req.headers)) headers["user-agent"] = USER_AGENT;
    return new Promise((resolve) => {
      let controller: Dispatcher.DispatchController | null = null;
      let statusCode = 0;
      let retryAfter: string | string[] | undefined;
      let received = 0;
      let done = false;
      const finish = (result: AttemptResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(() => {
        finish({
          kind: "transient",
          statusCode: null,
          error: `timed out after ${req.timeoutMs} ms`,
          retryAfterMs: null,
          durationMs: elapsed(),
        });
        controller?.abort(new Error("webhook request timed out"));
      }, req.timeoutMs);
      try {
        const url = new URL(req.url);
        this.agent.dispatch(
          { origin: url.origin, path: `${url.pathname}${url.search}`, method: "POST", headers, body: req.body },
          {
            onRequestStart: (c) => {
              controller = c;
              if (done) c.abort(new Error("webhook request timed out"));
            },
            onResponseStart: (_c, status, resHeaders) => {
              statusCode = status;
              retryAfter = resHeaders["retry-after"];
            },
            // The body is read (so the keep-alive socket is reused) but not kept; a long one closes it.
            onResponseData: (c, chunk) => {
              received += chunk.length;
              if (received <= MAX_DRAIN_BYTES) return;
              finish(classifyStatus(statusCode, retryAfter, elapsed()));
              c.abort(new Error("webhook response body too long"));
            },
            onResponseEnd: () => finish(classifyStatus(statusCode, retryAfter, elapsed())),
            onResponseError: (_c, err) => finish(classifyError(err, elapsed())),
          },
        );
      } catch (err) {
        finish(classifyError(err, elapsed()));
      }
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Classifies an HTTP answer (docs/CONTRACT.md §4 table). Retry-After counts on 429 and 503 only. */
export function classifyStatus(
  statusCode: number,
  retryAfter: string | string[] | undefined,
  durationMs: number,
): AttemptResult {
  if (statusCode >= 200 && statusCode < 300) return { kind: "success", statusCode, durationMs };
  if (statusCode >= 500 || TRANSIENT_STATUS.has(statusCode)) {
    const retryAfterMs = statusCode === 429 || statusCode === 503 ? parseRetryAfter(retryAfter) : null;
    return { kind: "transient", statusCode, error: `HTTP ${statusCode}`, retryAfterMs, durationMs };
  }
  if (statusCode === 410) return { kind: "permanent", reason: "gone", statusCode, error: "HTTP 410 Gone", durationMs };
  const what = statusCode >= 300 && statusCode < 400 ? " (redirects are not followed)" : "";
  return { kind: "permanent", reason: "permanent_status", statusCode, error: `HTTP ${statusCode}${what}`, durationMs };
}

function classifyError(err: unknown, durationMs: number): AttemptResult {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  if (code === "SSRF_BLOCKED") {
    return {
      kind: "permanent",
      reason: "ssrf_blocked",
      statusCode: null,
      error: e.message ?? e.cause?.message ?? "blocked",
      durationMs,
    };
  }
  // Connection refused or reset, DNS failure: the receiver may be back later.
  return {
    kind: "transient",
    statusCode: null,
    error: `${code ?? e.name ?? "Error"}: ${e.message ?? String(err)}`,
    retryAfterMs: null,
    durationMs,
  };
}
