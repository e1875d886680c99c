/**
 * The one module that writes to the event stream (Charter TEIL C: lint fails on XADD elsewhere).
 *
 * Appends with idempotency keys run inside one Lua script (scripts.ts, brainPublish) so that the
 * check, the XADD and the idempotency record are atomic: two racing requests with the same key
 * append once.
 */
import type { Redis } from "ioredis";
import { errors } from "../errors.js";
import type { StreamKeys } from "./keys.js";
import { withScripts } from "./scripts.js";

/** Idempotency records live 24 h (docs/CONTRACT.md §3). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

export interface PublishItem {
  /** The envelope as it will be stored and delivered. */
  json: string;
  eventId: string;
  /** Idempotency-Key header or body id; absent when the request has neither. */
  idempotencyKey?: string;
  /** Hash of the request as sent, to tell a retry from a key reused for another body (only with a key). */
  fingerprint?: string;
}

export interface PublishResult {
  /** false when the key was accepted before: nothing was appended. */
  created: boolean;
  streamMessageId: string;
  eventId: string;
  fingerprint: string;
}

export class Publisher {
  private readonly redis: Redis;

  constructor(
    redis: Redis,
    private readonly keys: StreamKeys,
  ) {
    this.redis = withScripts(redis);
  }

  /**
   * Appends the items in order, all in one atomic script; Redis failures become 503. Without
   * idempotency keys there is nothing to check: one item is a plain XADD (less than half of
   * Redis's CPU), a batch a leaner script (bench/RESULTS.md). A script, not MULTI: one EVALSHA
   * costs the gateway far less than 100 queued XADDs (a Command and a promise each).
   */
  async publish(items: PublishItem[]): Promise<PublishResult[]> {
    if (items.every((item) => item.idempotencyKey === undefined)) return this.append(items);
    const keys = [this.keys.stream];
    const argv = [String(IDEMPOTENCY_TTL_SECONDS)];
    for (const item of items) {
      keys.push(item.idempotencyKey === undefined ? this.keys.stream : this.keys.idempotency(item.idempotencyKey));
      argv.push(item.json, `${item.eventId} ${item.fingerprint ?? ""}`, item.idempotencyKey === undefined ? "0" : "1");
    }
    let reply: [0 | 1, string][];
    try {
      reply = await this.redis.brainPublish(keys.length, ...keys, ...argv);
    } catch (cause) {
      throw new errors.StreamUnavailable({ cause });
    }
    return reply.map(([created, value], i) => {
      if (created === 1)
        return {
          created: true,
          streamMessageId: value,
          eventId: items[i]!.eventId,
          fingerprint: items[i]!.fingerprint ?? "",
        };
      const [streamMessageId = "", eventId = "", fingerprint = ""] = value.split(" ");
      return { created: false, streamMessageId, eventId, fingerprint };
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
      throw new errors.StreamUnavailable({ cause });
    }
    return items.map((item, i) => ({
      created: true,
      streamMessageId: ids[i]!,
      eventId: item.eventId,
      fingerprint: item.fingerprint ?? "",
    }));
  }
}
