/**
 * BrainEventsClient: publishes events to the gateway over HTTP from any Node ≥ 20 application, and
 * registers a catalog's payload schemas in its event-type registry. It imports no server dependency
 * (eslint.config.js and test/client-imports.test.ts hold it to that), only the global fetch, uuid,
 * types and src/schemas.
 *
 * Every event leaves with an id (a UUIDv7 is assigned when it has none) and its body is serialized
 * once, so each retry sends the same bytes: the gateway answers a repeat of an id it accepted in
 * the last 24 h with the original result instead of appending it again (docs/CONTRACT.md §3).
 */
import { v7 as uuidv7 } from "uuid";
import type { EventSchemas, PublishableEvent } from "../catalog/types.js";
import type { EventTypeInfo } from "../schemas/event-type.js";
import { toJsonSchema2020 } from "../schemas/json-schema.js";
import { apiErrorOf, BrainApiError } from "./api-error.js";
import { RETRY_STATUS, retryAfterMs, retryDelay, retryPolicy, type RetryOptions, type RetryPolicy } from "./retry.js";

export interface BrainEventsClientOptions {
  /** Where the gateway listens, e.g. `https://events.example.com` (a path prefix is kept). */
  baseUrl: string | URL;
  /** A bearer token with the `publish` scope. */
  token: string;
  /** Replaces the global fetch (tests, proxies, instrumentation). */
  fetch?: typeof globalThis.fetch;
  /** How network errors, 429 and 503 are retried; `false` sends each request once. */
  retry?: RetryOptions | false;
}

export interface PublishOptions {
  /** Sent as `Idempotency-Key`: replays the original result for 24 h instead of appending again. */
  idempotencyKey?: string;
  /** Aborts the call, a wait between attempts included; an aborted call is not retried. */
  signal?: AbortSignal;
}

export interface PublishResult {
  id: string;
  stream_message_id: string;
  /** True when the gateway had already accepted this event (its id or key) and did not append it again. */
  replayed: boolean;
}

export type { EventTypeInfo, PublishableEvent };

type Answer = { ok: true; headers: Headers; body: unknown } | { ok: false; error: BrainApiError; waitMs?: number };

/** How `registerCatalog` describes the types it registers. */
export interface RegisterCatalogOptions {
  /** The description of each type; default: its schema's own `description`, or "". */
  describe?: (type: string) => string;
  /** Registers the types as deprecated (still accepted). */
  deprecated?: boolean;
  signal?: AbortSignal;
}

/**
 * `new BrainEventsClient({ baseUrl, token })` publishes any envelope;
 * `new BrainEventsClient<typeof missionEvents>(…)` only the catalog's events, checked at compile time.
 */
export class BrainEventsClient<C extends EventSchemas | undefined = undefined> {
  readonly #base: string;
  readonly #token: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #retry: RetryPolicy;

  constructor(options: BrainEventsClientOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError("baseUrl must be http(s)");
    if (typeof options.token !== "string" || options.token === "") throw new TypeError("token is required");
    this.#base = url.origin + url.pathname.replace(/\/+$/, "");
    this.#token = options.token;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#retry = retryPolicy(options.retry);
  }

  /** Publishes one event: 202 → `replayed: false`, a replay (200 `Idempotent-Replayed`) → `replayed: true`. */
  async publish(event: PublishableEvent<C>, options: PublishOptions = {}): Promise<PublishResult> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
    const answer = await this.#send("POST", "/v1/events", JSON.stringify(withId(event)), headers, options.signal);
    const body = answer.body as { id: string; stream_message_id: string };
    const replayed = answer.headers.get("idempotent-replayed") === "true";
    return { id: body.id, stream_message_id: body.stream_message_id, replayed };
  }

  /**
   * Publishes up to 500 events in one request, appended atomically and in order; results come in
   * the same order. An invalid event rejects the whole batch (BrainApiError, `details[].path` like
   * `/events/3/meta`) and nothing is written.
   */
  async publishBatch(
    events: readonly PublishableEvent<C>[],
    options: Pick<PublishOptions, "signal"> = {},
  ): Promise<PublishResult[]> {
    const body = JSON.stringify({ events: events.map(withId) });
    const answer = await this.#send("POST", "/v1/events/batch", body, {}, options.signal);
    const { results } = answer.body as { results: { id: string; stream_message_id: string; replayed?: boolean }[] };
    return results.map((r) => ({ id: r.id, stream_message_id: r.stream_message_id, replayed: r.replayed === true }));
  }

  /**
   * Registers each type of a catalog in the gateway's event-type registry (PUT /v1/event-types/{type},
   * needs a token with the `admin` scope) with its payload schema as JSON Schema 2020-12, so the
   * gateway refuses payloads that do not match it (400 PAYLOAD_SCHEMA_MISMATCH). A type already
   * registered is replaced. Returns the entries as registered, in the catalog's order.
   */
  async registerCatalog(catalog: EventSchemas, options: RegisterCatalogOptions = {}): Promise<EventTypeInfo[]> {
    const registered: EventTypeInfo[] = [];
    for (const [type, schema] of Object.entries(catalog)) {
      const own = (schema as { description?: unknown }).description;
      const description = options.describe?.(type) ?? (typeof own === "string" ? own : "");
      const body = { description, schema: toJsonSchema2020(schema), deprecated: options.deprecated === true };
      const answer = await this.#send("PUT", typePath(type), JSON.stringify(body), {}, options.signal);
      registered.push(answer.body as EventTypeInfo);
    }
    return registered;
  }

  /** One registered event type (admin scope); BrainApiError 404 when it is not registered. */
  async getEventType(type: string, options: Pick<PublishOptions, "signal"> = {}): Promise<EventTypeInfo> {
    return (await this.#send("GET", typePath(type), undefined, {}, options.signal)).body as EventTypeInfo;
  }

  /** Every registered event type, sorted by type (admin scope). */
  async listEventTypes(options: Pick<PublishOptions, "signal"> = {}): Promise<EventTypeInfo[]> {
    const answer = await this.#send("GET", "/v1/event-types", undefined, {}, options.signal);
    return (answer.body as { event_types: EventTypeInfo[] }).event_types;
  }

  /** Deletes a registered event type (admin scope); BrainApiError 404 when it is not registered. */
  async deleteEventType(type: string, options: Pick<PublishOptions, "signal"> = {}): Promise<void> {
    await this.#send("DELETE", typePath(type), undefined, {}, options.signal);
  }

  /** Sends one request, retrying network errors and RETRY_STATUS within the policy's bounds. */
  async #send(
    method: string,
    path: string,
    body: string | undefined,
    extra: Record<string, string>,
    signal?: AbortSignal,
  ) {
    signal?.throwIfAborted();
    const policy = this.#retry;
    const deadline = Date.now() + policy.totalTimeMs;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      accept: "application/json",
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...extra,
    };
    for (let attempt = 1; ; attempt++) {
      const timeoutMs = Math.max(1, Math.min(policy.attemptTimeoutMs, deadline - Date.now()));
      let failure: unknown;
      let waitMs: number | undefined;
      try {
        const answer = await this.#attempt(this.#base + path, { method, headers, body }, timeoutMs, signal);
        if (answer.ok) return answer;
        if (!RETRY_STATUS.has(answer.error.statusCode)) throw answer.error;
        failure = answer.error;
        waitMs = answer.waitMs;
      } catch (error) {
        // The caller's abort and final answers end the call; anything else is the network.
        if (signal?.aborted) throw signal.reason;
        if (error instanceof BrainApiError) throw error;
        failure = error;
      }
      const delay = retryDelay(policy, attempt, waitMs);
      if (attempt >= policy.attempts || Date.now() + delay >= deadline) throw failure;
      await sleep(delay, signal);
    }
  }

  /** One request and its whole body, bounded by `timeoutMs` and the caller's signal. */
  async #attempt(url: string, init: RequestInit, timeoutMs: number, signal?: AbortSignal): Promise<Answer> {
    // By hand rather than AbortSignal.any/timeout: that needs Node 20.3, and the timer must be cleared.
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(
      () => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError")),
      timeoutMs,
    );
    try {
      const res = await this.#fetch(url, { ...init, signal: controller.signal });
      if (!res.ok) {
        return { ok: false, error: await apiErrorOf(res), waitMs: retryAfterMs(res.headers.get("retry-after")) };
      }
      const text = await res.text();
      return { ok: true, headers: res.headers, body: text === "" ? null : JSON.parse(text) };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

/** The registry path of an event type; encoded, so a type the gateway would refuse cannot change the path. */
const typePath = (type: string) => `/v1/event-types/${encodeURIComponent(type)}`;

/** The event with an id, assigned once here so that every retry of it carries the same one. */
function withId<E extends { id?: string }>(event: E): E & { id: string } {
  return event.id === undefined ? { ...event, id: uuidv7() } : (event as E & { id: string });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
