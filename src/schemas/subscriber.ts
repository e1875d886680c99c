import { Type, type Static } from "typebox";
import { StreamId } from "./common.js";

export const SubscriberName = Type.String({
  pattern: "^[a-z0-9][a-z0-9_-]{0,62}$",
  description: "1–63 characters of `[a-z0-9_-]`, starting with a letter or digit; it names the consumer group too",
  examples: ["billing-webhook"],
});

/** One entry of a subscriber's `event_types` (schemas/type-patterns.ts says what it matches). */
export const EventTypePattern = Type.String({
  pattern: "^(\\*|[A-Za-z][A-Za-z0-9_.:-]{0,127}|[A-Za-z][A-Za-z0-9_.:-]{0,125}[.:]\\*)$",
  description:
    "an exact event type, a prefix pattern ending in `.*` or `:*` (`mission.*` matches `mission.created`), or " +
    "`*` for every type; the most specific entry wins",
});
const EventTypes = Type.Array(EventTypePattern, {
  minItems: 1,
  maxItems: 100,
  uniqueItems: true,
  examples: [["mission.*", "billing.invoice.paid"]],
});
// Postgres text cannot hold NUL: refused here as a 400, instead of failing the write with a 500.
const Url = Type.String({
  minLength: 1,
  maxLength: 2048,
  // Absolute http(s) only, and no control characters: the WHATWG parser would silently drop some.
  pattern: "^[Hh][Tt][Tt][Pp][Ss]?://[^\\u0000-\\u001f\\u007f]+$",
  description: "absolute http(s) URL; only globally routable unicast addresses are reached (SSRF guard)",
  examples: ["https://billing.example.com/hooks/brain"],
});
const Description = Type.String({ maxLength: 1000, pattern: "^[^\\u0000]*$", description: "no NUL characters" });
const MaxAttempts = Type.Integer({
  minimum: 1,
  maximum: 100,
  description: "requests in all before a dead letter (default 8)",
});
const TimeoutMs = Type.Integer({
  minimum: 1,
  maximum: 3_600_000,
  description: "request timeout in ms; default BRAIN_WEBHOOK_TIMEOUT_MS, must stay below BRAIN_CLAIM_IDLE_MS",
});
const MaxInFlight = Type.Integer({ minimum: 1, maximum: 1000, description: "requests open at once (default 32)" });
const Ordering = Type.Union([Type.Literal("none"), Type.Literal("key")], {
  description:
    "`none` (default): events are delivered as they come, up to max_in_flight at once; `key`: events with one " +
    "ordering_key are delivered one at a time in stream order, a failing one holding back the later ones of its " +
    "key until it is delivered or dead-lettered (other keys keep flowing)",
});
/** An HTTP token (RFC 9110 §5.6.2): the names a receiver can actually be sent. */
const HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$";
const Headers = Type.Record(
  Type.String({ pattern: HEADER_NAME }),
  Type.String({ maxLength: 4096, pattern: "^[\\t\\x20-\\x7e]*$" }),
  {
    // Names off the pattern are then reported one by one as not allowed, at /headers/<name>.
    additionalProperties: false,
    maxProperties: 32,
    description:
      "extra request headers; `webhook-*`, `x-brain-*`, content-type, content-length and host are reserved, and " +
      "hop-by-hop headers (connection, keep-alive, te, trailer, transfer-encoding, upgrade, expect, proxy-*) refused",
  },
);

export const CreateSubscriber = Type.Object(
  {
    name: SubscriberName,
    url: Url,
    event_types: EventTypes,
    description: Type.Optional(Description),
    secret: Type.Optional(
      Type.String({
        pattern: "^whsec_[A-Za-z0-9+/]{32,88}={0,2}$",
        description: "`whsec_<base64 of 24–64 bytes>`; generated when absent",
      }),
    ),
    start_from: Type.Optional(
      Type.Union([Type.Literal("latest"), Type.Literal("earliest"), StreamId], {
        description:
          "`latest` (default): only events appended from now on; `earliest`: every retained event; a stream id: " +
          "the events after it",
      }),
    ),
    enabled: Type.Optional(Type.Boolean({ description: "true when absent" })),
    max_attempts: Type.Optional(MaxAttempts),
    timeout_ms: Type.Optional(TimeoutMs),
    max_in_flight: Type.Optional(MaxInFlight),
    ordering: Type.Optional(Ordering),
    headers: Type.Optional(Headers),
  },
  { $id: "CreateSubscriber", additionalProperties: false },
);
export type CreateSubscriber = Static<typeof CreateSubscriber>;

export const UpdateSubscriber = Type.Object(
  {
    url: Type.Optional(Url),
    event_types: Type.Optional(EventTypes),
    enabled: Type.Optional(Type.Boolean()),
    description: Type.Optional(Type.Union([Description, Type.Null()])),
    max_attempts: Type.Optional(MaxAttempts),
    timeout_ms: Type.Optional(TimeoutMs),
    max_in_flight: Type.Optional(MaxInFlight),
    ordering: Type.Optional(Ordering),
    headers: Type.Optional(Headers),
  },
  {
    $id: "UpdateSubscriber",
    additionalProperties: false,
    minProperties: 1,
    description: "Only the given fields change.",
  },
);
export type UpdateSubscriber = Static<typeof UpdateSubscriber>;

const Timestamp = Type.String({ format: "date-time" });

export const SubscriberStats = Type.Object(
  {
    pending: Type.Union([Type.Integer(), Type.Null()], {
      description: "delivered to the group but not ACKed (retries waiting); null when Redis is unreachable",
    }),
    lag: Type.Union([Type.Integer(), Type.Null()], {
      description: "stream entries not yet read by the group; null when Redis cannot tell",
    }),
    delivered: Type.Integer({
      description:
        "entries delivered, lifetime total (ledger retention does not lower it); a successful redeliver of a " +
        "dead letter moves one here from dead_lettered",
    }),
    dead_lettered: Type.Integer({ description: "entries dead-lettered and not redelivered since, lifetime total" }),
    last_delivery_at: Type.Union([Timestamp, Type.Null()], { description: "when the last delivery was recorded" }),
  },
  { $id: "SubscriberStats" },
);

const subscriberFields = {
  name: SubscriberName,
  kind: Type.Union([Type.Literal("webhook"), Type.Literal("internal")], {
    description:
      "`webhook`: delivered by the gateway over HTTP; `internal`: an in-process consumer (createEventConsumer) whose " +
      "handlers run in an application",
  }),
  url: Type.Union([Type.String(), Type.Null()], { description: "null for an internal consumer" }),
  event_types: Type.Array(Type.String()),
  description: Type.Union([Type.String(), Type.Null()]),
  enabled: Type.Boolean(),
  max_attempts: Type.Integer(),
  timeout_ms: Type.Integer(),
  max_in_flight: Type.Integer(),
  ordering: Ordering,
  headers: Type.Record(Type.String(), Type.String()),
  previous_secret_expires_at: Type.Union([Timestamp, Type.Null()], {
    description: "until then the secret before the last rotation also signs; null when no rotated-out secret does",
  }),
  previous_secrets_expire_at: Type.Array(Timestamp, {
    description: "when each rotated-out secret that still signs stops signing, soonest first",
  }),
  created_at: Timestamp,
  updated_at: Timestamp,
  stats: Type.Unsafe<Static<typeof SubscriberStats>>(Type.Ref("SubscriberStats")),
};

export const Subscriber = Type.Object(subscriberFields, {
  $id: "Subscriber",
  description: "A consumer of the stream: a webhook subscriber or an internal consumer; never shows a secret.",
});
export type Subscriber = Static<typeof Subscriber>;

export const CreatedSubscriber = Type.Object(
  { ...subscriberFields, secret: Type.String({ description: "the signing secret: shown only here and on rotation" }) },
  { $id: "CreatedSubscriber" },
);

export const SubscriberList = Type.Object(
  { subscribers: Type.Array(Type.Unsafe<Subscriber>(Type.Ref("Subscriber"))) },
  { $id: "SubscriberList" },
);

export const RotatedSecret = Type.Object(
  {
    secret: Type.String({ description: "the new signing secret" }),
    previous_secret_expires_at: Timestamp,
  },
  {
    $id: "RotatedSecret",
    description: "The new secret; the previous one keeps signing alongside until previous_secret_expires_at.",
  },
);

export const Delivery = Type.Object(
  {
    stream_message_id: StreamId,
    event_id: Type.Union([Type.String(), Type.Null()]),
    event_type: Type.Union([Type.String(), Type.Null()], {
      description: "the event's type; null on attempts logged before the log recorded it",
    }),
    attempt: Type.Integer(),
    status_code: Type.Union([Type.Integer(), Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()]),
    duration_ms: Type.Integer(),
    outcome: Type.Union([Type.Literal("delivered"), Type.Literal("retry"), Type.Literal("dead_lettered")]),
    at: Timestamp,
  },
  { $id: "Delivery", description: "One delivery attempt." },
);

/** Where a page of the delivery log continues: an attempt's id, opaque to clients. */
export const DeliveryCursor = Type.String({
  pattern: "^[1-9][0-9]{0,14}$",
  description: "the `next` of the previous page",
});

export const DeliveryList = Type.Object(
  {
    deliveries: Type.Array(Type.Unsafe<Static<typeof Delivery>>(Type.Ref("Delivery"))),
    next: Type.Union([DeliveryCursor, Type.Null()], {
      description:
        "pass as `before` for the next (older) page; null when nothing older is left to look at. With a filter a " +
        "page may hold fewer than `limit` attempts (even none) and still have a `next`",
    }),
  },
  { $id: "DeliveryList", description: "Delivery attempts, newest first." },
);

export const DeadLetter = Type.Object(
  {
    stream_message_id: StreamId,
    event_id: Type.Union([Type.String(), Type.Null()]),
    reason: Type.Union(
      [
        Type.Literal("permanent_status"),
        Type.Literal("gone"),
        Type.Literal("max_attempts_exceeded"),
        Type.Literal("ssrf_blocked"),
        Type.Literal("trimmed"),
        Type.Literal("permanent_error"),
      ],
      { description: "`permanent_error`: an internal consumer's handler threw PermanentError" },
    ),
    last_status_code: Type.Union([Type.Integer(), Type.Null()]),
    last_error: Type.Union([Type.String(), Type.Null()]),
    attempts: Type.Integer(),
    failed_at: Timestamp,
    resolved_at: Type.Union([Timestamp, Type.Null()], {
      description: "set once an operator redelivered it successfully",
    }),
    event: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], {
      description: "the envelope as stored; null when it was trimmed from the stream before delivery",
    }),
  },
  { $id: "DeadLetter", description: "An entry that failed permanently for one subscriber." },
);

export const RedeliverResult = Type.Object(
  {
    stream_message_id: StreamId,
    outcome: Type.Union([Type.Literal("delivered"), Type.Literal("failed"), Type.Literal("queued")], {
      description:
        "`delivered` on a 2xx (dead letter resolved, dedup row `delivered`); `failed` otherwise (dead letter stays " +
        "open); `queued` for an internal consumer: a running instance of it re-runs its handler within about a " +
        "second, and the dead letter shows the result",
    }),
    attempt: Type.Integer({
      minimum: 1,
      description: "the x-brain-attempt sent (or the attempt number queued): the dead letter's attempts + 1",
    }),
    status_code: Type.Union([Type.Integer(), Type.Null()], {
      description: "the webhook's HTTP status; null when no answer came",
    }),
    error: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: "RedeliverResult", description: "The outcome of the one attempt made." },
);

/** Most dead letters one bulk redeliver takes. */
export const MAX_BULK_REDELIVER = 100;

export const BulkRedeliver = Type.Object(
  {
    stream_message_ids: Type.Array(StreamId, {
      minItems: 1,
      maxItems: MAX_BULK_REDELIVER,
      uniqueItems: true,
      description: `the dead letters to redeliver, 1–${MAX_BULK_REDELIVER}, each once`,
    }),
  },
  { $id: "BulkRedeliver", additionalProperties: false },
);
export type BulkRedeliver = Static<typeof BulkRedeliver>;

export const BulkRedeliverItem = Type.Object(
  {
    stream_message_id: StreamId,
    outcome: Type.Optional(RedeliverResult.properties.outcome),
    attempt: Type.Optional(RedeliverResult.properties.attempt),
    status_code: Type.Optional(RedeliverResult.properties.status_code),
    error: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        description: "with `outcome`: the attempt's error, as for one redeliver; without: why none was made",
      }),
    ),
    code: Type.Optional(
      Type.Union([Type.Literal("NOT_FOUND"), Type.Literal("CONFLICT")], {
        description:
          "set when no attempt was made: `NOT_FOUND` (no dead letter for this id) or `CONFLICT` (its event is no " +
          "longer stored), the codes one redeliver answers with",
      }),
    ),
  },
  {
    $id: "BulkRedeliverItem",
    description: "What one redeliver of the list brought: an attempt (`outcome`…) or why none was made (`code`).",
  },
);
export type BulkRedeliverItem = Static<typeof BulkRedeliverItem>;

export const BulkRedeliverResult = Type.Object(
  {
    results: Type.Array(Type.Unsafe<BulkRedeliverItem>(Type.Ref("BulkRedeliverItem")), {
      description: "one per requested id, in the order given",
    }),
  },
  { $id: "BulkRedeliverResult" },
);
export type BulkRedeliverResult = Static<typeof BulkRedeliverResult>;

/** Registered as components (see COMPONENTS in app.ts); SubscriberStats before the schemas that `$ref` it. */
export const SUBSCRIBER_COMPONENTS = [
  CreateSubscriber,
  UpdateSubscriber,
  SubscriberStats,
  Subscriber,
  CreatedSubscriber,
  SubscriberList,
  RotatedSecret,
  Delivery,
  DeliveryList,
  DeadLetter,
  RedeliverResult,
  BulkRedeliver,
  BulkRedeliverItem,
  BulkRedeliverResult,
];
