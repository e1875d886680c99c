/**
 * Publishes one mission's lifecycle over HTTP: created, started, then completed, or `failed` or
 * `cancelled` when given as the first argument. Reads GATEWAY_URL and GATEWAY_TOKEN (publish scope).
 */
import { BrainApiError, BrainEventsClient } from "brain-event-gateway/client";
import { createEvent, missionEvents } from "brain-event-gateway/catalog";

// Typed by the catalog: an event type or a payload key it does not declare is a compile error.
const client = new BrainEventsClient<typeof missionEvents>({
  baseUrl: process.env["GATEWAY_URL"] ?? "http://127.0.0.1:8080",
  token: required("GATEWAY_TOKEN"),
});

const missionId = process.env["MISSION_ID"] ?? `m-${Date.now()}`;
const from = {
  source: "mission_queue",
  producer: "mission_control_example",
  source_module: "missions",
  // Extra meta travels with the event: consumers group a mission's events by it.
  meta: { correlation_id: missionId },
};

const ending = {
  completed: () => createEvent(missionEvents, "mission.completed", { mission_id: missionId, duration_ms: 5400 }, from),
  failed: () =>
    createEvent(
      missionEvents,
      "mission.failed",
      { mission_id: missionId, error: "battery depleted", error_code: "BATTERY", retryable: true },
      from,
    ),
  cancelled: () =>
    createEvent(missionEvents, "mission.cancelled", { mission_id: missionId, reason: "operator abort" }, from),
};
const outcome = (process.argv[2] ?? "completed") as keyof typeof ending;
if (!Object.hasOwn(ending, outcome)) throw new Error(`the outcome must be one of ${Object.keys(ending).join(", ")}`);

const lifecycle = [
  createEvent(
    missionEvents,
    "mission.created",
    { mission_id: missionId, title: "Survey sector 7", priority: "high" },
    from,
  ),
  createEvent(missionEvents, "mission.started", { mission_id: missionId, assigned_to: "rover-2", attempt: 1 }, from),
  ending[outcome](),
];

try {
  // One at a time: each event is in the stream before the next one is sent, so their order is the mission's.
  for (const event of lifecycle) {
    const result = await client.publish(event);
    const replayed = result.replayed ? " (a replay: accepted before)" : "";
    console.log(`${event.type} ${missionId} → stream ${result.stream_message_id}, id ${result.id}${replayed}`);
  }
} catch (error) {
  // Network errors, 429 and 502–504 were retried already; what arrives here will not succeed as sent.
  if (!(error instanceof BrainApiError)) throw error;
  console.error(`refused: ${error.statusCode} ${error.code} ${error.message}`, error.details);
  process.exitCode = 1;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
