/**
 * Redeliver: the operator's explicit override of the dedup guard for one dead letter. It makes
 * one new signed attempt to that subscriber only, right away (not through the stream: other
 * subscribers must not see the event again), and records it like any attempt. On a 2xx the
 * dedup row's outcome becomes `delivered` and the dead letter is marked resolved; otherwise the
 * dead letter stays open with the new status and error.
 */
import type { FastifyError } from "fastify";
import type { BulkRedeliverItem } from "../schemas/subscriber.js";
import type { RedisClient } from "../stream/connections.js";
import type { StreamKeys } from "../stream/keys.js";
import type { Db } from "../db/client.js";
import { findDeadLetter, recordRedelivery, requestRedelivery } from "../db/dead-letters.js";
import { getSubscriberRow } from "../db/subscribers.js";
import { errors } from "../errors.js";
import { storedEvent } from "../stream/entries.js";
import { loadSubscriber, type SubscriberConfig } from "./subscriber-config.js";
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
  return redeliverTo(ctx, await target(ctx, name), streamMessageId);
}

/** Dead letters one bulk redeliver attempts at once: it holds that many webhook requests open. */
export const BULK_REDELIVER_CONCURRENCY = 8;

/**
 * Redelivers each dead letter as `redeliver` does, at most BULK_REDELIVER_CONCURRENCY at a time;
 * results in the order of `ids`. An unknown subscriber throws NotFound; an id without a dead
 * letter or whose event is gone gets the error's code and message in its result instead.
 */
export async function redeliverMany(
  ctx: RedeliverContext,
  name: string,
  ids: readonly string[],
): Promise<BulkRedeliverItem[]> {
  const sub = await target(ctx, name);
  const results: BulkRedeliverItem[] = new Array(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      const id = ids[i]!;
      results[i] = await redeliverTo(ctx, sub, id).catch((err: FastifyError) => {
        if (err.code !== "NOT_FOUND" && err.code !== "CONFLICT") throw err;
        return { stream_message_id: id, code: err.code, error: err.message };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(BULK_REDELIVER_CONCURRENCY, ids.length) }, worker));
  return results;
}

/** What a redelivery goes to: an internal consumer, or a webhook with its opened secrets. */
type Target = { name: string; sub: SubscriberConfig | null };

async function target(ctx: RedeliverContext, name: string): Promise<Target> {
  const row = await getSubscriberRow(ctx.db, name);
  if (!row) throw new errors.NotFound(`no subscriber named ${name}`);
  if (row.kind === "internal") return { name, sub: null };
  const sub = await loadSubscriber(ctx.db, name, ctx.secretKey);
  if (!sub) throw new errors.NotFound(`no subscriber named ${name}`);
  return { name, sub };
}

async function redeliverTo(
  ctx: RedeliverContext,
  { name, sub }: Target,
  streamMessageId: string,
): Promise<RedeliverResult> {
  const letter = await findDeadLetter(ctx.db, name, streamMessageId);
  if (!letter) throw new errors.NotFound(`subscriber ${name} has no dead letter for ${streamMessageId}`);
  const json = await storedEvent(ctx.redis, ctx.keys, letter);
  if (json === null) {
    throw new errors.Conflict(`the event of ${streamMessageId} is no longer stored; there is nothing to redeliver`);
  }
  const attempt = letter.attempts + 1;
  if (sub === null) {
    await requestRedelivery(ctx.db, letter);
    return { stream_message_id: streamMessageId, outcome: "queued", attempt, status_code: null, error: null };
  }
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
  const eventType = event.type ?? null;
  await recordRedelivery(ctx.db, letter, { attempt, delivered, statusCode, error, durationMs, eventType });
  return {
    stream_message_id: streamMessageId,
    outcome: delivered ? "delivered" : "failed",
    attempt,
    status_code: statusCode,
    error,
  };
}
