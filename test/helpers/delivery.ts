/**
 * Shared set-up for delivery tests: a gateway (in-process) with short retry timings, a real
 * receiver, and small helpers to create subscribers over the API and publish events.
 */
import type { FastifyInstance } from "fastify";
import postgres from "postgres";
import { buildApp } from "./app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./env.js";
import { auth, envelope } from "./http.js";
import { startReceiver, type Receiver } from "./receiver.js";

type Test = { teardown(fn: () => unknown): void };

/** Short timings so retries and reclaims happen within a test. */
export const FAST_ENV = {
  BRAIN_RETRY_SCHEDULE: "100ms,200ms",
  BRAIN_CLAIM_IDLE_MS: "1500",
  BRAIN_WEBHOOK_TIMEOUT_MS: "500",
  BRAIN_WEBHOOK_ALLOW_PRIVATE: "true",
  BRAIN_SHUTDOWN_TIMEOUT_MS: "2000",
  // ts-node compiles modules lazily in tests; those pauses must not read as overload.
  BRAIN_MAX_EVENT_LOOP_DELAY_MS: "0",
};

/**
 * For gateway child processes: the receiver runs in the busy test process, so request timeouts
 * are generous here (a timed-out request that did arrive would count as a duplicate).
 */
export const PROCESS_ENV = {
  ...FAST_ENV,
  BRAIN_CLAIM_IDLE_MS: "4000",
  BRAIN_WEBHOOK_TIMEOUT_MS: "3000",
  LOG_LEVEL: "info",
};

export interface DeliverySetup {
  app: FastifyInstance;
  env: Record<string, string>;
  receiver: Receiver;
  sql: postgres.Sql;
}

export async function deliverySetup(t: Test, env: Record<string, string> = {}): Promise<DeliverySetup> {
  const receiver = await startReceiver(t);
  const { app, env: fullEnv } = await buildApp(t, { ...FAST_ENV, ...env });
  const sql = postgres(fullEnv["DATABASE_URL"]!, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  return { app, env: fullEnv, receiver, sql };
}

/** Creates a subscriber through the API (start_from earliest unless given); returns the created body. */
export async function createSubscriber(
  app: FastifyInstance,
  body: Record<string, unknown>,
): Promise<Record<string, unknown> & { secret: string }> {
  const res = await app.inject({
    method: "POST",
    url: "/v1/subscribers",
    headers: auth(ADMIN_TOKEN),
    payload: { event_types: ["*"], start_from: "earliest", ...body },
  });
  if (res.statusCode !== 201) throw new Error(`creating subscriber failed: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** Publishes one event (the standard envelope with overrides); returns its stream id. */
export async function publish(app: FastifyInstance, over: Record<string, unknown> = {}): Promise<string> {
  const res = await app.inject({
    method: "POST",
    url: "/v1/events",
    headers: auth(PUBLISH_TOKEN),
    payload: envelope(over),
  });
  if (res.statusCode !== 202) throw new Error(`publish failed: ${res.statusCode} ${res.body}`);
  return res.json().stream_message_id as string;
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(
  check: () => Promise<T> | T,
  timeoutMs = 10_000,
  what = "condition",
): Promise<Exclude<T, null | undefined | false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as Exclude<T, null | undefined | false>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The group's pending count for a subscriber. */
export async function pendingCount(app: FastifyInstance, subscriber: string): Promise<number> {
  const summary = (await app.redis.xpending(app.keys.stream, subscriber)) as [number, ...unknown[]];
  return Number(summary[0]);
}
