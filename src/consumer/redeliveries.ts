/**
 * Redeliver for internal consumers. The admin API cannot call a handler that lives in an
 * application, so it marks the dead letter (db/dead-letters.ts requestRedelivery) and every
 * running instance of that consumer polls for such requests; each request is taken by exactly
 * one of them. The handler runs once more with the stored event and `attempt` = the dead
 * letter's attempts + 1; the result is recorded as a webhook redelivery's is: on success the dedup
 * row becomes `delivered` and the dead letter resolved, otherwise it stays open with the new error.
 */
import type { FastifyBaseLogger } from "fastify";
import type { RedisClient } from "../stream/connections.js";
import type { StreamKeys } from "../stream/keys.js";
import type { Db } from "../db/client.js";
import { recordRedelivery, takeRedeliveryRequests, type DeadLetterRow } from "../db/dead-letters.js";
import { decodeEntry, storedEvent } from "../stream/entries.js";
import type { EventHandler } from "./types.js";

const POLL_MS = 1000;
const TAKE = 10;

export interface RedeliveriesOptions {
  db: Db;
  redis: RedisClient;
  keys: StreamKeys;
  subscriber: string;
  /** The consumer's handler for a type; undefined when it handles the type no longer. */
  handlerFor: (type: string) => EventHandler<unknown> | undefined;
  log: FastifyBaseLogger;
}

export class Redeliveries {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly opts: RedeliveriesOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.poll()
        .catch((err) => this.opts.log.warn({ err: (err as Error).message }, "taking redeliver requests failed"))
        .finally(() => (this.running = null));
    }, POLL_MS).unref();
  }

  /** Stops polling and waits for a redelivery in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async poll(): Promise<void> {
    const letters = await takeRedeliveryRequests(this.opts.db, this.opts.subscriber, TAKE);
    for (const letter of letters) await this.redeliver(letter);
  }

  private async redeliver(letter: DeadLetterRow): Promise<void> {
    const { keys, redis, subscriber, log } = this.opts;
    const attempt = letter.attempts + 1;
    const started = performance.now();
    const json = await storedEvent(redis, keys, letter);
    const decoded = json === null ? null : decodeEntry(letter.streamMessageId, ["event", json]);
    let error: string | null = null;
    if (decoded === null) error = "the event is no longer stored or holds no parseable event";
    else {
      const handler = this.opts.handlerFor(decoded.event.type);
      if (handler === undefined) error = `the consumer has no handler for ${decoded.event.type} any more`;
      else {
        try {
          await handler({ ...decoded, attempt, partition: keys.locate(letter.streamMessageId)?.partition.index ?? 0 });
        } catch (err) {
          error = err instanceof Error ? err.message : String(err);
        }
      }
    }
    const durationMs = Math.round(performance.now() - started);
    await recordRedelivery(
      this.opts.db,
      letter,
      { attempt, delivered: error === null, statusCode: null, error, durationMs },
      false,
    );
    log.info(
      { subscriber, stream_message_id: letter.streamMessageId, redelivered: error === null },
      "redeliver request run",
    );
  }
}
