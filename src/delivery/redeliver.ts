/**
 * Redeliver: the operator's explicit override of the dedup guard for one dead letter. It makes
 * one new signed attempt to that subscriber only, right away (not through the stream: other
 * subscribers must not see the event again), and records it like any attempt. On a 2xx the
 * dedup row's outcome becomes `delivered` and the dead letter is marked resolved; otherwise the
 * dead letter stays open with the new status and error.
 */
import type { RedisClient } from "../stream/connections.js";
import type { StreamKeys } from "../stream/keys.js";
import type { Db } from "../db/client.js";
import { findDeadLetter, recordRedelivery, requestRedelivery } from "../db/dead-letters.js";
import { getSubscriberRow } from "../db/subscribers.js";
import { errors } from "../errors.js";
import { storedEvent } from "../stream/entries.js";
import { loadSubscriber } from "./subscriber-config.js";
import type { WebhookClient } from "./webhook-client.js";

export interface RedeliverResult {
  stream_message_id: string;
  outcome: "delivered" | "failed" | "queued";
  attempt: number;
  status_code: number | null;
  error: string | null;
}

export interface RedeliverContext {
  db: Db;
  redis: RedisClient;
  keys: StreamKeys;
  secretKey: string | null;
  client: WebhookClient;
}

/**
 * Makes the attempt; throws NotFound for an unknown subscriber or dead letter. For an internal
 * consumer only its application can call the handler: the request is queued on the dead letter
 * and a running instance of that consumer picks it up (consumer/redeliveries.ts).
 */
export async function redeliver(
  ctx: RedeliverContext,
  name: string,
  streamMessageId: string,
): Promise<RedeliverResult> {
  const row = await getSubscriberRow(ctx.db, name);
  if (!row) throw new errors.NotFound(`no subscriber named ${name}`);
  const letter = await findDeadLetter(ctx.db, name, streamMessageId);
  if (!letter) throw new errors.NotFound(`subscriber ${name} has no dead letter for ${streamMessageId}`);
  const json = await storedEvent(ctx.redis, ctx.keys, letter);
  if (json === null) {
    throw new errors.Conflict(`the event of ${streamMessageId} is no longer stored; there is nothing to redeliver`);
  }
  const attempt = letter.attempts + 1;
  if (row.kind === "internal") {
    await requestRedelivery(ctx.db, letter);
    return { stream_message_id: streamMessageId, outcome: "queued", attempt, status_code: null, error: null };
  }
  const sub = await loadSubscriber(ctx.db, name, ctx.secretKey);
  if (!sub) throw new errors.NotFound(`no subscriber named ${name}`);
  const event = JSON.parse(json) as { id?: string; type?: string };
  const result = await ctx.client.send({
    url: sub.url,
    subscriber: name,
    streamMessageId,
    eventId: event.id ?? "",
    eventType: event.type ?? "",
    body: json,
    attempt,
    signingSecrets: sub.signingSecrets,
    headers: sub.headers,
    timeoutMs: sub.timeoutMs,
  });
  const delivered = result.kind === "success";
  const error = result.kind === "success" ? null : result.error;
  const { statusCode, durationMs } = result;
  await recordRedelivery(ctx.db, letter, { attempt, delivered, statusCode, error, durationMs });
  return {
    stream_message_id: streamMessageId,
    outcome: delivered ? "delivered" : "failed",
    attempt,
    status_code: statusCode,
    error,
  };
}
