import { Type, type Static } from "typebox";
import { ref, StreamId } from "./common.js";

/** Envelope schema versions this gateway accepts today. */
export const SUPPORTED_SCHEMA_VERSIONS = [1] as const;

export const EventMeta = Type.Object(
  {
    schema_version: Type.Integer({
      // The document states the one accepted value; src/errors.ts answers any other with the
      // contract's UNSUPPORTED_SCHEMA_VERSION naming the supported versions.
      enum: [...SUPPORTED_SCHEMA_VERSIONS],
      description: `envelope schema version; supported: ${SUPPORTED_SCHEMA_VERSIONS.join(", ")}`,
    }),
    producer: Type.String({ minLength: 1, maxLength: 255, description: "service that produced the event" }),
    source_module: Type.String({ minLength: 1, maxLength: 255, description: "module inside the producer" }),
  },
  {
    // One type list rather than a union: a bad value is one problem, not four (plugins/validation.ts).
    additionalProperties: Type.Unsafe<string | number | boolean>({ type: ["string", "number", "boolean"] }),
    description:
      "Charter B: every event carries meta. Other keys (correlation_id, traceparent, …) may be strings, numbers or " +
      "booleans.",
  },
);

/** An event type; also the path parameter of the event-type registry (routes/event-types.ts). */
export const EventTypeName = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: "^[A-Za-z][A-Za-z0-9_.:-]*$",
  examples: ["mission.created"],
});

export const EventEnvelope = Type.Object(
  {
    id: Type.Optional(
      Type.String({ pattern: "^[A-Za-z0-9._:-]{1,64}$", description: "assigned (UUIDv7) when absent" }),
    ),
    type: EventTypeName,
    source: Type.String({ minLength: 1, maxLength: 255 }),
    target: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    payload: Type.Object({}, { additionalProperties: true, description: "any JSON object, at most 64 levels deep" }),
    timestamp: Type.Optional(
      Type.String({ format: "date-time", description: "RFC 3339; the receive time when absent" }),
    ),
    meta: EventMeta,
    ordering_key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description:
          'picks the partition (else the id does) and, for subscribers with `ordering: "key"`, orders delivery: ' +
          "events with one ordering_key reach such a subscriber one at a time, in stream order",
      }),
    ),
  },
  { $id: "EventEnvelope", additionalProperties: false, description: "A BRAiN event envelope, schema_version 1." },
);
export type EventEnvelope = Static<typeof EventEnvelope>;

export const envelopeRef = ref(EventEnvelope);

/** Events per batch by default (BRAIN_MAX_BATCH); the committed OpenAPI document shows this value. */
export const DEFAULT_MAX_BATCH = 500;

/** The batch body; `maxItems` documents BRAIN_MAX_BATCH, which the route checks before any item is validated. */
export const batchRequest = (maxBatch: number) =>
  Type.Object(
    { events: Type.Array(envelopeRef, { minItems: 1, maxItems: maxBatch }) },
    { $id: "BatchRequest", additionalProperties: false },
  );
export const BatchRequest = batchRequest(DEFAULT_MAX_BATCH);

export const Accepted = Type.Object(
  { id: Type.String(), stream_message_id: StreamId },
  { $id: "Accepted", description: "Where the event was appended (or had been, on a replay)." },
);

export const BatchResult = Type.Object(
  {
    id: Type.String(),
    stream_message_id: StreamId,
    replayed: Type.Optional(
      Type.Boolean({ description: "true when this id was accepted in the last 24 h and not appended again" }),
    ),
  },
  { $id: "BatchResult", description: "Where one event of a batch was appended (or had been)." },
);

export const BatchAccepted = Type.Object(
  { results: Type.Array(Type.Unsafe<Static<typeof BatchResult>>(Type.Ref("BatchResult"))) },
  { $id: "BatchAccepted", description: "One result per event, in the order of the batch." },
);

export const StoredEvent = Type.Object({ stream_message_id: StreamId, event: envelopeRef }, { $id: "StoredEvent" });

export const EventPage = Type.Object(
  {
    events: Type.Array(ref(StoredEvent)),
    next: Type.Union([StreamId, Type.Null()], {
      description:
        "pass as `after` for the next page; null when this page is empty. A page holds at most `limit` events " +
        "and about 1 MiB of them (always at least one)",
    }),
  },
  { $id: "EventPage" },
);
