/**
 * Postgres tables (Drizzle). `drizzle-kit generate` turns changes here into SQL in `drizzle/`.
 *
 * processed_events is the Charter C dedup table: its key is (subscriber_name, stream_message_id);
 * event_id is only an audit column, since a producer retry makes a new id while a Redis
 * redelivery keeps the stream id.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";

/** One rotated-out secret: the stored (sealed) value and when it stops signing (ISO 8601). */
export interface PreviousSecret {
  secret: string;
  expires_at: string;
}

/**
 * A consumer of the stream: a webhook (delivered by the dispatchers) or an internal one, whose
 * handlers run inside an application (createEventConsumer). Both share the dedup and dead-letter
 * tables; only webhooks have a URL and a signing secret.
 */
export const subscribers = pgTable(
  "subscribers",
  {
    name: varchar("name", { length: 63 }).primaryKey(),
    kind: text("kind", { enum: ["webhook", "internal"] })
      .notNull()
      .default("webhook"),
    url: text("url"),
    /** Exact types, `*`, or prefixes such as `mission.*`. */
    eventTypes: text("event_types").array().notNull(),
    description: text("description"),
    /** `whsec_…`, or `enc:v2:…` (`enc:v1:…` before v2) when BRAIN_SECRET_KEY encrypts secrets at rest. */
    secret: text("secret"),
    /**
     * Rotated-out secrets (stored like `secret`), each signing alongside until its own expiry; a
     * second rotation within the overlap must not cut the first one short. Expired ones are
     * dropped at the next rotation.
     */
    previousSecrets: jsonb("previous_secrets").$type<PreviousSecret[]>().notNull().default([]),
    enabled: boolean("enabled").notNull().default(true),
    maxAttempts: integer("max_attempts").notNull().default(8),
    timeoutMs: integer("timeout_ms").notNull().default(10_000),
    maxInFlight: integer("max_in_flight").notNull().default(32),
    /** `key`: events with one ordering_key are delivered one at a time, in stream order (consumer/ordering.ts). */
    ordering: text("ordering", { enum: ["none", "key"] })
      .notNull()
      .default("none"),
    headers: jsonb("headers").$type<Record<string, string>>().notNull().default({}),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check(
      "subscribers_webhook_has_url_and_secret",
      sql`${t.kind} <> 'webhook' OR (${t.url} IS NOT NULL AND ${t.secret} IS NOT NULL)`,
    ),
  ],
);

export const processedEvents = pgTable(
  "processed_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    subscriberName: varchar("subscriber_name", { length: 255 })
      .notNull()
      .references(() => subscribers.name, { onDelete: "cascade" }),
    streamMessageId: varchar("stream_message_id", { length: 50 }).notNull(),
    eventId: varchar("event_id", { length: 64 }),
    outcome: text("outcome", { enum: ["delivered", "dead_lettered"] }).notNull(),
    processedAt: timestamp("processed_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique("processed_events_subscriber_msg_uq").on(t.subscriberName, t.streamMessageId),
    // The partition prefix leads, not the subscriber: an index led by subscriber_name can serve
    // the dedup probe too, and a probe planned on an empty table (a generic plan cached before the
    // first ANALYZE) picked it and scanned all of the subscriber's rows per id.
    index("processed_events_stream_order_idx").on(
      streamOrder()[0],
      t.subscriberName,
      ...streamOrder().slice(1),
      t.streamMessageId,
    ),
  ],
);

export const deadLetters = pgTable(
  "dead_letters",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    subscriberName: varchar("subscriber_name", { length: 255 })
      .notNull()
      .references(() => subscribers.name, { onDelete: "cascade" }),
    streamMessageId: varchar("stream_message_id", { length: 50 }).notNull(),
    eventId: varchar("event_id", { length: 64 }),
    reason: text("reason", {
      enum: ["permanent_status", "gone", "max_attempts_exceeded", "ssrf_blocked", "trimmed", "permanent_error"],
    }).notNull(),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    attempts: integer("attempts").notNull(),
    /** The envelope JSON as stored in the stream; null when it was trimmed before delivery. */
    event: text("event"),
    failedAt: timestamp("failed_at", { withTimezone: true }).notNull().defaultNow(),
    resolvedAt: timestamp("resolved_at", { withTimezone: true }),
    /**
     * Set by redeliver for an internal consumer: only the application running it can call its
     * handler, so it picks the request up from here (consumer/redeliveries.ts).
     */
    redeliverRequestedAt: timestamp("redeliver_requested_at", { withTimezone: true }),
  },
  (t) => [
    unique("dead_letters_subscriber_msg_uq").on(t.subscriberName, t.streamMessageId),
    // The internal consumers poll for redeliver requests every second: only open requests are indexed.
    index("dead_letters_redeliver_requested_idx")
      .on(t.subscriberName)
      .where(sql`${t.redeliverRequestedAt} IS NOT NULL`),
    // The retention prune (db/dead-letters.ts) finds letters past their age through this: without
    // it, each of its batches scanned the whole table, however many letters an operator keeps.
    index("dead_letters_prune_idx")
      .on(sql`coalesce(${t.resolvedAt}, ${t.failedAt})`)
      .where(sql`${t.redeliverRequestedAt} IS NULL`),
  ],
);

/**
 * The delivery log: one row per attempt, pruned after BRAIN_DELIVERY_RETENTION_HOURS. Unlike the
 * tables above it has no foreign key: the check cost Postgres as much as the row itself, on every
 * attempt (bench/RESULTS.md). Deleting a subscriber deletes its rows in the same transaction; an
 * attempt finishing during the deletion may leave a row, which the retention prune removes. The
 * prune scans `at` through a BRIN index, which costs next to nothing on insert: rows are
 * appended in time order.
 */
export const deliveryAttempts = pgTable(
  "delivery_attempts",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    subscriberName: varchar("subscriber_name", { length: 255 }).notNull(),
    streamMessageId: varchar("stream_message_id", { length: 50 }).notNull(),
    eventId: varchar("event_id", { length: 64 }),
    attempt: integer("attempt").notNull(),
    statusCode: integer("status_code"),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
    outcome: text("outcome", { enum: ["delivered", "retry", "dead_lettered"] }).notNull(),
    /** Null on rows written before migration 0008: adding it without a default left the table as it was. */
    eventType: text("event_type"),
    at: timestamp("at", { withTimezone: true })
      .notNull()
      .default(sql`now()`),
  },
  (t) => [
    index("delivery_attempts_subscriber_at_idx").on(t.subscriberName, t.at.desc()),
    index("delivery_attempts_at_brin").using("brin", t.at),
  ],
);

/** One partition's share of a replay: ids inclusive; `position` is the last entry done (null: none yet). */
export interface ReplayRange {
  partition: number;
  start: string;
  end: string;
  position: string | null;
}

/**
 * Replays: an operator's re-send of a range of the stream to one subscriber (delivery/replay.ts).
 * `ranges` and the counts are saved together after each chunk, so a process that takes over
 * resumes where the last one stopped. `lease_owner`/`lease_until` let one process at a time run
 * a replay; every write of the runner is fenced by its owner.
 */
export const replays = pgTable(
  "replays",
  {
    id: uuid("id").primaryKey(),
    subscriberName: varchar("subscriber_name", { length: 255 })
      .notNull()
      .references(() => subscribers.name, { onDelete: "cascade" }),
    state: text("state", { enum: ["pending", "running", "completed", "cancelled", "failed"] })
      .notNull()
      .default("pending"),
    /** `from` and `to` as the operator gave them; `to` null: each partition's tail at creation. */
    fromSpec: text("from_spec").notNull(),
    toSpec: text("to_spec"),
    ranges: jsonb("ranges").$type<ReplayRange[]>().notNull(),
    /** Narrows the subscriber's own event types; null: every type the subscriber wants. */
    eventTypes: text("event_types").array(),
    maxPerSecond: integer("max_per_second").notNull(),
    /** Entries of the range the subscriber wants; null until the runner has counted them. */
    total: bigint("total", { mode: "number" }),
    sent: bigint("sent", { mode: "number" }).notNull().default(0),
    delivered: bigint("delivered", { mode: "number" }).notNull().default(0),
    failed: bigint("failed", { mode: "number" }).notNull().default(0),
    error: text("error"),
    leaseOwner: text("lease_owner"),
    leaseUntil: timestamp("lease_until", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp("started_at", { withTimezone: true }),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
  },
  (t) => [
    index("replays_subscriber_created_idx").on(t.subscriberName, t.createdAt.desc()),
    // The runners poll for work twice a second: only unfinished replays are indexed.
    index("replays_active_idx")
      .on(t.createdAt)
      .where(sql`${t.state} in ('pending', 'running')`),
  ],
);

/**
 * Stream-id order for `processed_events`: a stored id is `<ms>-<seq>` or `<partition>:<ms>-<seq>`,
 * which sorts neither as text nor as one number. The expressions give (partition prefix incl. the
 * colon, or ""; ms; seq); an index on them and the subscriber, ending in the id itself, answers the NOGROUP recovery
 * (newest id per partition) with an index-only scan and bounds the retention range (ids below a
 * partition's first entry). Queries must spell them exactly like this to match the index
 * (processed-events.ts).
 * numeric, not bigint: Redis ids are unsigned 64-bit, and a cast error would fail the ledger insert.
 */
export function streamOrder() {
  const id = sql.raw('"stream_message_id"');
  return [
    sql`substr(${id}, 1, strpos(${id}, ':'))`,
    sql`(substr(split_part(${id}, '-', 1), strpos(${id}, ':') + 1)::numeric)`,
    sql`(split_part(${id}, '-', 2)::numeric)`,
  ] as const;
}

/**
 * Lifetime outcome counters per subscriber, so stats never scan the ledger. Written in the same
 * statement as the ledger rows they count (only rows actually inserted), moved by redeliver, and
 * left alone by retention. Each subscriber has up to STATS_SLOTS rows, one per connection slot
 * (pg_backend_pid() modulo): the settlers of every partition and process would otherwise queue
 * for one row lock on every commit. Readers sum the slots.
 */
export const subscriberStats = pgTable(
  "subscriber_stats",
  {
    subscriberName: varchar("subscriber_name", { length: 255 })
      .notNull()
      .references(() => subscribers.name, { onDelete: "cascade" }),
    slot: integer("slot").notNull(),
    delivered: bigint("delivered", { mode: "number" }).notNull().default(0),
    deadLettered: bigint("dead_lettered", { mode: "number" }).notNull().default(0),
    lastDeliveryAt: timestamp("last_delivery_at", { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.subscriberName, t.slot] })],
);
