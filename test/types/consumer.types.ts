/**
 * Type-level test of createEventConsumer's handlers: never run, only compiled by `npm run
 * typecheck`. Each `@ts-expect-error` line must be an error, or tsc fails ("Unused
 * '@ts-expect-error' directive"): if a catalog stopped typing the handlers, typecheck would fail.
 */
import { missionEvents } from "../../src/catalog/index.js";
import { createEventConsumer } from "../../src/index.js";

export function typedHandlers() {
  return createEventConsumer({
    name: "board",
    catalog: missionEvents,
    handlers: {
      "mission.failed": async (e) => {
        const id: string = e.event.payload.mission_id;
        const error: string = e.event.payload.error;
        // @ts-expect-error a key of another type's payload: `reason` belongs to mission.cancelled
        return void [id, error, e.event.payload.reason];
      },
      "mission.cancelled": (e) => void e.event.payload.reason.toUpperCase(),
      "mission.*": async (e) => void e.event.type.startsWith("mission."),
      // @ts-expect-error not a type of the catalog, nor a pattern
      "billing.paid": async () => {},
    },
  });
}

export function untypedHandlers() {
  return createEventConsumer({
    name: "audit",
    handlers: {
      "*": async (e) => void [e.streamMessageId, e.attempt, e.event.meta.producer, e.event.payload],
    },
  });
}
