/**
 * Redeliver: the operator's explicit override of the dedup guard for one dead letter. It makes
 * one new signed attempt to that subscriber only, right away (not through the stream: other
 * subscribers must not see the event again), and records it like any attempt. On a 2xx the
 * dedup row's outcome becomes `delivered` and the dead letter is marked resolved; otherwise the
 * dead letter stays open with the new status and error.
 */
import { and, eq, sql } from "drizzle-orm";
import type { Redis } from "ioredis";
import type { Db } from "../plugins/db.js";
import { deadLetters, deliveryAttempts, processedEvents } from "../db/schema.js";
import { loadSubscribers } from "../db/subscribers.js";
import { errors } from "../errors.js";
import { decodeEntry } from "../stream/codec.js";
import type { WebhookClient } from "./webhook-client.js";

export interface RedeliverResult {
  stream_message_id: string;
  outcome: "delivered" | "failed";
  attempt: number;
  status_code: number | null;
  error: string | null;
}

export interface RedeliverContext {
  db: Db;
  redis: Redis;
  stream: string;
  secretKey: string | null;
  client: WebhookClient;
}

/** Makes the attempt; throws NotFound for an unknown subscriber or dead letter. */
export async function redeliver(ctx: RedeliverContext, name: string, streamMessageId: string): Promise<RedeliverResult> {
  const sub = (await loadSubscribers(ctx.db, ctx.secretKey)).find((s) => s.name === name);
  if (!sub) throw new errors.NotFound(`no subscriber named ${name}`);
  const [letter] = await ctx.db
    .select()
    .from(deadLetters)
    .where(and(eq(deadLetters.subscriberName, name), eq(deadLetters.streamMessageId, streamMessageId)));
  if (!letter) throw new errors.NotFound(`subscriber ${name} has no dead letter for ${streamMessageId}`);
  // A `trimmed` dead letter kept no event; the entry may still be readable if it was trimmed only from this PEL.
  const json = letter.event ?? decodeEntry(streamMessageId, (await ctx.redis.xrange(ctx.stream, streamMessageId, streamMessageId))[0]?.[1] ?? null)?.json;
  if (json === undefined) throw new errors.Conflict(`the event of ${streamMessageId} is no longer stored; there is nothing to redeliver`);
  const event = JSON.parse(json) as { id?: string; type?: string };
  const attempt = letter.attempts + 1;
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
  const statusCode = result.statusCode;
  const error = result.kind === "success" ? null : result.error;
  await ctx.db.transaction(async (tx) => {
    await tx.insert(deliveryAttempts).values({
      subscriberName: name,
      streamMessageId,
      eventId: letter.eventId,
      attempt,
      statusCode,
      error,
      durationMs: result.durationMs,
      outcome: delivered ? "delivered" : "dead_lettered",
    });
    if (delivered) {
      await tx
        .insert(processedEvents)
        .values({ subscriberName: name, streamMessageId, eventId: letter.eventId, outcome: "delivered" })
        .onConflictDoUpdate({ target: [processedEvents.subscriberName, processedEvents.streamMessageId], set: { outcome: "delivered", processedAt: sql`now()` } });
    }
    await tx
      .update(deadLetters)
      .set(delivered ? { attempts: attempt, resolvedAt: sql`now()` } : { attempts: attempt, lastStatusCode: statusCode, lastError: error })
      .where(eq(deadLetters.id, letter.id));
  });
  return { stream_message_id: streamMessageId, outcome: delivered ? "delivered" : "failed", attempt, status_code: statusCode, error };
}
