/**
 * The built-in catalog of the mission lifecycle: created → started → completed | failed, or
 * cancelled at any point. Payloads stay open to keys added later (no additionalProperties: false),
 * so a newer producer does not break an older consumer; TypeScript still refuses unknown keys in a
 * literal.
 */
import { Type } from "typebox";
import { defineEventCatalog } from "./catalog.js";

const MissionId = Type.String({ minLength: 1, maxLength: 255, description: "the mission this event is about" });
const Who = Type.String({ minLength: 1, maxLength: 255 });
const Json = Type.Record(Type.String(), Type.Unknown());

export const missionEvents = defineEventCatalog({
  "mission.created": Type.Object({
    mission_id: MissionId,
    title: Type.Optional(Type.String({ maxLength: 1000 })),
    priority: Type.Optional(
      Type.Union([Type.Literal("low"), Type.Literal("normal"), Type.Literal("high"), Type.Literal("critical")]),
    ),
    requested_by: Type.Optional(Who),
    parameters: Type.Optional(Json),
  }),
  "mission.started": Type.Object({
    mission_id: MissionId,
    /** Who runs it: an agent or worker name. */
    assigned_to: Type.Optional(Who),
    /** 1 for the first run, higher for a re-run of the same mission. */
    attempt: Type.Optional(Type.Integer({ minimum: 1 })),
  }),
  "mission.cancelled": Type.Object({
    mission_id: MissionId,
    reason: Type.String({ minLength: 1, maxLength: 4000 }),
    cancelled_by: Type.Optional(Who),
  }),
  "mission.completed": Type.Object({
    mission_id: MissionId,
    duration_ms: Type.Optional(Type.Integer({ minimum: 0 })),
    result: Type.Optional(Json),
  }),
  "mission.failed": Type.Object({
    mission_id: MissionId,
    error: Type.String({ minLength: 1, maxLength: 4000 }),
    /** A stable code for the failure, for consumers that branch on it. */
    error_code: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    /** Whether running the mission again may succeed. */
    retryable: Type.Optional(Type.Boolean()),
    duration_ms: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
});

/** The mission lifecycle event types. */
export type MissionEventType = keyof typeof missionEvents;
