/**
 * Webhook delivery as an EventConsumer handler: one signed POST per call, its result mapped onto
 * the consumer's error classes (docs/CONTRACT.md §4 table), then the delivery log and metrics
 * for each attempt once the consumer decided its outcome. The HTTP result travels with the
 * attempt: returned on success, as the thrown error's `cause` otherwise.
 */
import type { FastifyBaseLogger } from "fastify";
import type { RedisClient } from "../stream/connections.js";
import type { Db } from "../db/client.js";
import { disableSubscriber } from "../db/subscribers.js";
import { PermanentError, TransientError, type AttemptRecord, type EventHandler } from "../consumer/types.js";
import type { Metrics } from "../metrics.js";
import { announceChange } from "../stream/change-channel.js";
import type { AttemptLog } from "./attempt-log.js";
import type { SubscriberConfig } from "./subscriber-config.js";
import type { AttemptResult, WebhookClient } from "./webhook-client.js";

export interface WebhookDeps {
  client: WebhookClient;
  db: Db;
  /** Announces on `changeChannel` that a 410 disabled the subscriber. */
  redis: RedisClient;
  changeChannel: string;
  attempts: AttemptLog;
  metrics: Metrics;
  log: FastifyBaseLogger;
}

/** Maps one attempt's result onto the consumer's outcome: return = delivered, throw = retry or dead letter. */
export function throwUnlessSuccess(result: AttemptResult): void {
  const { statusCode } = result;
  if (result.kind === "transient") {
    throw new TransientError(result.error, { statusCode, retryAfterMs: result.retryAfterMs, cause: result });
  }
  if (result.kind === "permanent") {
    throw new PermanentError(result.error, { reason: result.reason, statusCode, cause: result });
  }
}

/** The handler delivering to the subscriber `current()` describes (read afresh for every attempt). */
export function webhookHandler(deps: WebhookDeps, current: () => SubscriberConfig): EventHandler<AttemptResult> {
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
    deps.metrics.webhookDuration.observe({ subscriber: sub.name }, result.durationMs / 1000);
    if (result.kind === "permanent" && result.reason === "gone") {
      await disableSubscriber(deps.db, sub.name)
        .then(() => announceChange(deps.redis, deps.changeChannel, sub.name))
        .catch((err: Error) =>
          deps.log.error({ subscriber: sub.name, err: err.message }, "disabling a subscriber after 410 failed"),
        );
      deps.log.warn({ subscriber: sub.name }, "webhook answered 410 Gone: subscriber disabled");
    }
    throwUnlessSuccess(result);
    return result;
  };
}

/** The HTTP result of an attempt: what the handler returned, or what its error carries. */
function resultOf(record: AttemptRecord<AttemptResult>): AttemptResult | undefined {
  if (record.value !== undefined) return record.value;
  const { error } = record;
  return error instanceof TransientError || error instanceof PermanentError
    ? (error.cause as AttemptResult)
    : undefined;
}

/** The consumer's onAttempt hook: delivery log row and metrics. */
export function recordAttempt(deps: WebhookDeps, subscriber: string, record: AttemptRecord<AttemptResult>): void {
  const { event, outcome, error } = record;
  const result = resultOf(record);
  deps.attempts.record({
    subscriberName: subscriber,
    streamMessageId: event.streamMessageId,
    eventId: event.event.id ?? null,
    eventType: event.event.type,
    attempt: event.attempt,
    statusCode: result?.statusCode ?? null,
    error: result?.kind === "success" ? null : (result?.error ?? error?.message ?? null),
    durationMs: result?.durationMs ?? 0,
    outcome,
  });
  deps.metrics.deliveries.inc({ subscriber, outcome });
  if (outcome === "delivered") {
    // The stream id (after its partition, if any) starts with the append time in ms.
    const id = event.streamMessageId;
    const appendedAt = Number(id.slice(id.indexOf(":") + 1).split("-")[0]);
    deps.metrics.endToEndLatency.observe({ subscriber }, Math.max(0, Date.now() - appendedAt) / 1000);
  }
}
