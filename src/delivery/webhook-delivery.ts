/**
 * Webhook delivery as an EventConsumer handler: one signed POST per call, its result mapped onto
 * the consumer's error classes (SPEC §4 table), plus the delivery log and metrics for each
 * attempt once the consumer decided its outcome.
 */
import type { FastifyBaseLogger } from "fastify";
import type { Redis } from "ioredis";
import type { Db } from "../plugins/db.js";
import type { Metrics } from "../metrics.js";
import { disableSubscriber, type SubscriberConfig } from "../db/subscribers.js";
import { PermanentError, TransientError, type AttemptRecord, type ConsumedEvent, type EventHandler } from "../stream/consumer-types.js";
import type { AttemptLog } from "./attempt-log.js";
import type { AttemptResult, WebhookClient } from "./webhook-client.js";

export interface WebhookDeps {
  client: WebhookClient;
  db: Db;
  /** Publishes on `subscribersChanged` after a 410 disabled the subscriber. */
  redis: Redis;
  subscribersChanged: string;
  attempts: AttemptLog;
  metrics: Metrics;
  log: FastifyBaseLogger;
}

/** Results of calls, picked up by `recordAttempt` once the consumer settled on an outcome. */
const results = new WeakMap<ConsumedEvent, AttemptResult>();

/** Maps one attempt's result onto the consumer's outcome: return = delivered, throw = retry or dead letter. */
export function throwUnlessSuccess(result: AttemptResult): void {
  if (result.kind === "transient") throw new TransientError(result.error, result.statusCode, result.retryAfterMs);
  if (result.kind === "permanent") throw new PermanentError(result.error, result.reason, result.statusCode);
}

/** The handler delivering to the subscriber `current()` describes (read afresh for every attempt). */
export function webhookHandler(deps: WebhookDeps, current: () => SubscriberConfig): EventHandler {
  return async (event) => {
    const sub = current();
    const result = await deps.client.send({
      url: sub.url,
      subscriber: sub.name,
      streamMessageId: event.streamMessageId,
      eventId: event.event.id ?? "",
      eventType: event.event.type,
      body: event.json,
      attempt: event.attempt,
      signingSecrets: sub.signingSecrets,
      headers: sub.headers,
      timeoutMs: sub.timeoutMs,
    });
    results.set(event, result);
    deps.metrics.webhookDuration.observe({ subscriber: sub.name }, result.durationMs / 1000);
    if (result.kind === "permanent" && result.reason === "gone") {
      await disableSubscriber(deps.db, sub.name)
        .then(() => deps.redis.publish(deps.subscribersChanged, sub.name))
        .catch((err: Error) => deps.log.error({ subscriber: sub.name, err: err.message }, "disabling a subscriber after 410 failed"));
      deps.log.warn({ subscriber: sub.name }, "webhook answered 410 Gone: subscriber disabled");
    }
    throwUnlessSuccess(result);
  };
}

/** The consumer's onAttempt hook: delivery log row and metrics. */
export function recordAttempt(deps: WebhookDeps, subscriber: string, record: AttemptRecord): void {
  const { event, outcome, error } = record;
  const result = results.get(event);
  deps.attempts.record({
    subscriberName: subscriber,
    streamMessageId: event.streamMessageId,
    eventId: event.event.id ?? null,
    attempt: event.attempt,
    statusCode: result?.kind === "success" ? result.statusCode : (result?.statusCode ?? null),
    error: result?.kind === "success" ? null : (result?.error ?? error?.message ?? null),
    durationMs: result?.durationMs ?? 0,
    outcome,
  });
  deps.metrics.deliveries.inc({ subscriber, outcome });
  if (outcome === "delivered") {
    const appendedAt = Number(event.streamMessageId.split("-")[0]);
    deps.metrics.endToEndLatency.observe({ subscriber }, Math.max(0, Date.now() - appendedAt) / 1000);
  }
}
