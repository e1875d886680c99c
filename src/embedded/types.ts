/**
 * The public types of `createEventConsumer` (the package's main entry): handlers typed by a
 * catalog, so a handler of `mission.failed` sees `payload.error` as the catalog declares it.
 */
import type { FastifyBaseLogger } from "fastify";
import type { EventPayload, EventSchemas, EventType } from "../catalog/types.js";
import type { ConsumedEvent } from "../consumer/types.js";
import type { EventEnvelope } from "../schemas/envelope.js";

export type { ConsumedEvent } from "../consumer/types.js";

/** An event of one catalog type as a handler receives it. */
export type ReceivedEvent<T extends string = string, P = unknown> = Omit<ConsumedEvent, "event"> & {
  event: Omit<EventEnvelope, "type" | "payload"> & { type: T; payload: P };
};

/**
 * Handles one event. Returning is success (dedup row + ACK); throwing PermanentError dead-letters
 * the event (+ dedup row + ACK); any other error leaves it pending, to be retried.
 */
export type Handler<E = ConsumedEvent> = (event: E) => Promise<void> | void;

/** Handlers without a catalog: exact types, prefix patterns (`mission.*`) or `*`. */
export type ConsumerHandlers = { [pattern: string]: Handler };

/** Handlers of a catalog's types, each seeing its own payload type; patterns see any catalog event. */
export type CatalogHandlers<C extends EventSchemas> = {
  [K in EventType<C>]?: Handler<ReceivedEvent<K, EventPayload<C, K>>>;
} & { [pattern: `${string}*`]: Handler<ReceivedEvent<EventType<C>, unknown>> | undefined };

/** What every consumer is configured with, catalog or not. */
export interface ConsumerSettings {
  /** The consumer's name: its consumer group and the dedup key's subscriber_name (`^[a-z0-9][a-z0-9_-]{0,62}$`). */
  name: string;
  /** Default REDIS_URL. */
  redisUrl?: string;
  /** Default DATABASE_URL. */
  databaseUrl?: string;
  /** Default BRAIN_STREAM. */
  stream?: string;
  /** Where a consumer registered for the first time begins: `latest` (default), `earliest` or a stream id. */
  startFrom?: string;
  description?: string;
  /** Handler calls in all before a dead letter (default 8). */
  maxAttempts?: number;
  /** Handler calls running at once (default 32). */
  maxInFlight?: number;
  /**
   * `key`: events with one `ordering_key` are handled one at a time, in stream order, across
   * processes and crashes (docs/CLUSTER.md); `none` (default): as they come.
   */
  ordering?: "none" | "key";
  /** Delays between attempts; default BRAIN_RETRY_SCHEDULE. */
  retryScheduleMs?: number[];
  /** A pino logger (default: pino at LOG_LEVEL on stdout). */
  logger?: FastifyBaseLogger;
  /** Where the defaults are read from (default process.env). */
  env?: Record<string, string | undefined>;
}

/**
 * With a catalog the handlers are typed by it, and a payload of a catalog type that does not match
 * its schema is a permanent error; without one they take any event.
 */
export type EventConsumerOptions<C extends EventSchemas | undefined = undefined> = ConsumerSettings &
  (C extends EventSchemas
    ? { catalog: C; handlers: CatalogHandlers<C> }
    : { catalog?: undefined; handlers: ConsumerHandlers });

/** An in-process consumer; nothing connects before start(). */
export interface EventConsumer {
  readonly name: string;
  /** Connects, registers the consumer (its group is created once) and starts consuming; idempotent. */
  start(): Promise<void>;
  /** Stops reading; handlers running finish within `timeoutMs` (default 15 s); unfinished entries stay pending. */
  stop(timeoutMs?: number): Promise<void>;
}
