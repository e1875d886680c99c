import { Type, type Static } from "typebox";
import { ref, StreamId } from "./common.js";
import { envelopeRef } from "./envelope.js";

/** An envelope id as the envelope allows it, for exact filters. */
export const EventIdFilter = Type.String({
  pattern: "^[A-Za-z0-9._:-]+$",
  minLength: 1,
  maxLength: 64,
  description: "an exact envelope `id`",
});

export const EntryDelivery = Type.Object(
  {
    subscriber: Type.String(),
    outcome: Type.Union([Type.Literal("delivered"), Type.Literal("dead_lettered")]),
    processed_at: Type.String({ format: "date-time" }),
  },
  { $id: "EntryDelivery" },
);

export const EventDetail = Type.Object(
  {
    stream_message_id: StreamId,
    event: envelopeRef,
    deliveries: Type.Array(ref(EntryDelivery), {
      description:
        "one row per subscriber that delivered or dead-lettered this entry, by subscriber name; subscribers " +
        "that skipped its type, or have not reached it yet, have none",
    }),
  },
  { $id: "EventDetail" },
);
export type EventDetail = Static<typeof EventDetail>;

const MinuteCount = Type.Object({
  minute: Type.String({ format: "date-time", description: "the start of the minute" }),
  count: Type.Integer({ minimum: 1 }),
});

export const TypeVolume = Type.Object(
  {
    from: Type.String({ format: "date-time", description: "the start of the oldest minute counted" }),
    to: Type.String({ format: "date-time", description: "the end of the current minute" }),
    types: Type.Array(
      Type.Object({
        type: Type.String({ description: "an event type, or `other` for the types beyond the bound" }),
        total: Type.Integer({ minimum: 1 }),
        minutes: Type.Array(MinuteCount, { description: "oldest first; minutes without an event are left out" }),
      }),
      { description: "most events first; at most 1,000 types and `other`" },
    ),
  },
  { $id: "TypeVolume" },
);
export type TypeVolume = Static<typeof TypeVolume>;

/** Registered in app.ts: routes `$ref` them and the OpenAPI document lists them. */
export const EVENT_BROWSE_COMPONENTS = [EntryDelivery, EventDetail, TypeVolume];
