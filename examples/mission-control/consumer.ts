/**
 * Prints mission lifecycles as they happen, inside this process: a consumer of the event stream
 * with its own consumer group, deduplicated and retried like webhook delivery. Reads REDIS_URL,
 * DATABASE_URL and BRAIN_STREAM as the gateway does. Stops on SIGTERM or SIGINT, or after
 * EXIT_AFTER events.
 */
import { createEventConsumer, PermanentError } from "brain-event-gateway";
import { missionEvents } from "brain-event-gateway/catalog";

const exitAfter = Number(process.env["EXIT_AFTER"] ?? Infinity);
let seen = 0;

const consumer = createEventConsumer({
  name: "mission-printer",
  // Types the handlers, and dead-letters a payload that does not match its schema before a handler sees it.
  catalog: missionEvents,
  // One call at a time, so that a lifecycle prints in stream order (the default runs 32 at once).
  maxInFlight: 1,
  handlers: {
    "mission.created": ({ streamMessageId, event }) => {
      const { mission_id, title, priority } = event.payload;
      print(streamMessageId, `${mission_id} created: ${title ?? "untitled"}, priority ${priority ?? "normal"}`);
    },
    "mission.started": ({ streamMessageId, event }) => {
      print(streamMessageId, `${event.payload.mission_id} started by ${event.payload.assigned_to ?? "someone"}`);
    },
    "mission.completed": ({ streamMessageId, event }) => {
      print(streamMessageId, `${event.payload.mission_id} completed in ${event.payload.duration_ms ?? "?"} ms`);
    },
    "mission.failed": ({ streamMessageId, event }) => {
      const { mission_id, error, retryable } = event.payload;
      print(streamMessageId, `${mission_id} failed: ${error}${retryable ? " (may be retried)" : ""}`);
    },
    "mission.cancelled": ({ streamMessageId, event }) => {
      print(streamMessageId, `${event.payload.mission_id} cancelled: ${event.payload.reason}`);
    },
    // A type from a newer producer that this version cannot show. Retrying will not help, so it becomes a
    // dead letter; once a version that knows the type runs, an operator redelivers it (admin API, redeliver).
    "mission.*": ({ event }) => {
      count();
      throw new PermanentError(`${event.type} is not a mission event this printer knows`);
    },
  },
});

function print(streamMessageId: string, line: string): void {
  console.log(`${streamMessageId} mission ${line}`);
  count();
}

// Stopping lets the call in progress finish and records its outcome, so a handler may trigger it.
function count(): void {
  if (++seen === exitAfter) setImmediate(stop);
}

let stopping: Promise<void> | undefined;
function stop(): void {
  stopping ??= consumer.stop().then(() => console.log(`stopped after ${seen} events`));
}

process.once("SIGTERM", stop);
process.once("SIGINT", stop);
await consumer.start();
console.log(`consuming mission events as ${consumer.name}`);
