/**
 * The one module that writes to the event stream (Charter TEIL C: lint fails on XADD elsewhere).
 *
 * Appends with idempotency keys run inside one Lua script (scripts.ts, brainPublish) so that the
 * check, the XADD and the idempotency record are atomic: two racing requests with the same key
 * append once.
 */
import type { Redis } from "ioredis";
import { redisFailure } from "../errors.js";
import type { IdempotencyKind, StreamKeys } from "./keys.js";
import { withScripts } from "./scripts.js";

/** Idempotency records live 24 h (docs/CONTRACT.md §3). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

export interface PublishItem {
  /** The envelope as it will be stored and delivered. */
  json: string;
  eventId: string;
  /** Idempotency-Key header or body id; absent when the request has neither. */
  idempotencyKey?: string;
  /** Which of the two `idempotencyKey` is: they are kept apart (keys.ts). */
  keyKind?: IdempotencyKind;
  /** Hash of the request as sent, to tell a retry from a key reused for another body (only with a key). */
  fingerprint?: string;
}

/**
 * `created`: appended. `replayed`: its key was accepted before with the same body; nothing was
 * appended. `conflict`: its key was accepted before with another body, so nothing of the whole
 * request was appended; `skipped`: another item of the request conflicted, so this one was not appended.
 */
export type PublishOutcome = "created" | "replayed" | "conflict" | "skipped";

export interface PublishResult {
  outcome: PublishOutcome;
  /** The new stream id, or the one recorded with the key ("" when skipped). */
  streamMessageId: string;
  eventId: string;
  fingerprint: string;
}

const OUTCOMES: PublishOutcome[] = ["replayed", "created", "conflict", "skipped"];

export class Publisher {
  private readonly redis: Redis;

  constructor(
    redis: Redis,
    private readonly keys: StreamKeys,
  ) {
    this.redis = withScripts(redis);
  }

  /**
   * Appends the items in order, all in one atomic script, with idempotency keys scoped to
   * `credential` (plugins/auth.ts; "" for in-process producers); Redis failures become 503 (400
   * when Redis refused a value of the request). Without idempotency keys there is nothing to
   * check: one item is a plain XADD (less than half of Redis's CPU), a batch a leaner script
   * (bench/RESULTS.md). A script, not MULTI: one EVALSHA costs the gateway far less than 100
   * queued XADDs (a Command and a promise each).
   */
  async publish(items: PublishItem[], credential = ""): Promise<PublishResult[]> {
    if (items.every((item) => item.idempotencyKey === undefined)) return this.append(items);
    const keys = [this.keys.stream];
    const argv = [String(IDEMPOTENCY_TTL_SECONDS)];
    for (const { idempotencyKey: key, keyKind = "id", json, eventId, fingerprint = "" } of items) {
      keys.push(key === undefined ? this.keys.stream : this.keys.idempotency(credential, keyKind, key));
      argv.push(json, `${eventId} ${fingerprint}`, key === undefined ? "0" : "1");
    }
    let reply: [0 | 1 | 2 | 3, string][];
    try {
      reply = await this.redis.brainPublish(keys.length, ...keys, ...argv);
    } catch (cause) {
      throw redisFailure(cause);
    }
    return reply.map(([code, value], i) => {
      const item = items[i]!;
      const outcome = OUTCOMES[code]!;
      if (outcome === "created" || outcome === "skipped") {
        return { outcome, streamMessageId: value, eventId: item.eventId, fingerprint: item.fingerprint ?? "" };
      }
      const [streamMessageId = "", eventId = "", fingerprint = ""] = value.split(" ");
      return { outcome, streamMessageId, eventId, fingerprint };
    });
  }

  /** Items without idempotency keys: XADD for one, the append script for several (atomic, in order). */
  private async append(items: PublishItem[]): Promise<PublishResult[]> {
    const stream = this.keys.stream;
    let ids: string[];
    try {
      ids =
        items.length === 1
          ? [(await this.redis.xadd(stream, "*", "event", items[0]!.json))!]
          : await this.redis.brainAppend(stream, ...items.map((item) => item.json));
    } catch (cause) {
      throw redisFailure(cause);
    }
    return items.map((item, i) => ({
      outcome: "created" as const,
      streamMessageId: ids[i]!,
      eventId: item.eventId,
      fingerprint: item.fingerprint ?? "",
    }));
  }
}
