/**
 * The EventConsumer's public vocabulary: what a handler receives, the error classes that decide
 * an entry's fate (Charter D, docs/CONTRACT.md §1), and the options (event-consumer.ts has the
 * state machine).
 */
import type { FastifyBaseLogger } from "fastify";
import type { RedisClient } from "../stream/connections.js";
import type { Db } from "../db/client.js";
import type { DeadLetterReason } from "../db/processed-events.js";
import type { DecodedEntry } from "../stream/entries.js";
import type { Lease } from "../stream/lease.js";
import type { StreamWatcher } from "../stream/watcher.js";
import type { LeaseShare } from "./ordering.js";
import type { Slots } from "./slots.js";

export type { DeadLetterReason } from "../db/processed-events.js";

/** An entry handed to a handler. `attempt` is 1-based and counts across crashes. */
export interface ConsumedEvent extends DecodedEntry {
  attempt: number;
  /** The stream partition the entry is in (0 with one partition). */
  partition: number;
}

/**
 * Handles one event; throw PermanentError to dead-letter it, any other error to retry it. What it
 * returns reaches `onAttempt` as `value` (the webhook handler returns the HTTP result).
 */
export type EventHandler<R = void> = (event: ConsumedEvent) => Promise<R>;

/** What a PermanentError carries besides its message; `reason` is the dead letter's (default `permanent_error`). */
export interface PermanentErrorOptions extends ErrorOptions {
  reason?: DeadLetterReason;
  statusCode?: number | null;
}

/** A failure retrying cannot fix: dead letter + dedup row + XACK (Charter D). */
export class PermanentError extends Error {
  override name = "PermanentError";
  readonly reason: DeadLetterReason;
  readonly statusCode: number | null;
  constructor(message: string, options: PermanentErrorOptions = {}) {
    super(message, options);
    this.reason = options.reason ?? "permanent_error";
    this.statusCode = options.statusCode ?? null;
  }
}

/** What a TransientError carries besides its message. */
export interface TransientErrorOptions extends ErrorOptions {
  statusCode?: number | null;
  /** A receiver's Retry-After, in ms; capped at the schedule's longest delay. */
  retryAfterMs?: number | null;
}

/**
 * A failure worth retrying, with what the dead letter should keep if attempts run out. Any error
 * that is not a PermanentError is retried the same way; this class only adds the details.
 */
export class TransientError extends Error {
  override name = "TransientError";
  readonly statusCode: number | null;
  readonly retryAfterMs: number | null;
  constructor(message: string, options: TransientErrorOptions = {}) {
    super(message, options);
    this.statusCode = options.statusCode ?? null;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }
}

/** What became of one handler call: `value` when it returned, `error` when it threw. */
export interface AttemptRecord<R = void> {
  event: ConsumedEvent;
  outcome: "delivered" | "retry" | "dead_lettered";
  value: R | undefined;
  error: Error | null;
}

export interface EventConsumerOptions<R = void> {
  /** Command connection (never blocks); reads, claims and ACKs share it. */
  redis: RedisClient;
  /**
   * The process's stream watcher (stream/watcher.ts), shared by all its consumers so the
   * blocking connections do not grow with them; absent, the consumer makes one of its own.
   */
  watcher?: StreamWatcher;
  db: Db;
  stream: string;
  subscriber: string;
  /** Unique per process, so each process owns its own PEL entries. */
  consumer: string;
  /**
   * Handlers by event type, prefix pattern (`mission.*`) or `*`; the most specific wins. Types
   * without a handler are ACKed unseen.
   */
  handlers: Record<string, EventHandler<R>>;
  retryScheduleMs: number[];
  claimIdleMs: number;
  maxAttempts?: number;
  maxInFlight?: number;
  /**
   * The partition `stream` is, and how many there are: entries are known by their qualified id
   * (stream/ids.ts). Default: the only one.
   */
  partition?: { index: number; count: number };
  /** max_in_flight shared with the subscriber's consumers of other partitions; `maxInFlight` resizes it. */
  slots?: Slots;
  /**
   * Per-key ordered delivery (consumer/ordering.ts): the lease of this partition for this
   * subscriber. Only its holder consumes the partition; absent, events are not ordered.
   */
  orderLease?: Lease;
  /** With orderLease: this process's fair share of the partitions' leases. */
  orderShare?: LeaseShare;
  /** Stop reading new entries while this many wait for a retry (default 1000). */
  maxRetryBacklog?: number;
  onAttempt?: (record: AttemptRecord<R>) => void;
  /** Called for every dead letter recorded, whatever its cause. */
  onDeadLetter?: (streamMessageId: string, reason: DeadLetterReason) => void;
  /** Asked before recreating a vanished group: false when the subscriber itself was deleted. */
  shouldRecreateGroup?: () => Promise<boolean>;
  log: FastifyBaseLogger;
}
