import { Type, type Static } from "typebox";
import { EventTypeName } from "./envelope.js";

const Timestamp = Type.String({ format: "date-time" });

const PayloadSchema = Type.Object(
  {},
  {
    additionalProperties: true,
    description:
      "JSON Schema 2020-12 of the payload (`$schema`, when given, must name 2020-12); at most 64 KiB as JSON and " +
      "128 levels deep. `$ref`s must resolve within the schema; unknown keywords and formats are refused.",
    examples: [{ type: "object", required: ["mission_id"], properties: { mission_id: { type: "string" } } }],
  },
);

const Description = Type.String({ maxLength: 1000, description: "what the event means, for people" });

export const PutEventType = Type.Object(
  {
    description: Description,
    schema: PayloadSchema,
    deprecated: Type.Optional(
      Type.Boolean({ description: "false when absent; events of a deprecated type are still accepted" }),
    ),
  },
  { $id: "PutEventType", additionalProperties: false },
);
export type PutEventType = Static<typeof PutEventType>;

export const EventTypeInfo = Type.Object(
  {
    type: EventTypeName,
    description: Type.String(),
    schema: Type.Object({}, { additionalProperties: true }),
    deprecated: Type.Boolean(),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: "EventType", description: "A registered event type and the schema its payloads are validated against." },
);
export type EventTypeInfo = Static<typeof EventTypeInfo>;

export const EventTypeList = Type.Object(
  { event_types: Type.Array(Type.Unsafe<EventTypeInfo>(Type.Ref("EventType"))) },
  { $id: "EventTypeList", description: "Every registered event type, sorted by type." },
);

/** Registered as components (app.ts), EventType before the list that `$ref`s it. */
export const EVENT_TYPE_COMPONENTS = [PutEventType, EventTypeInfo, EventTypeList];
