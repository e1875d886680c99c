/**
 * Publishes from inside a Node service that reaches the gateway's Redis: the checks of HTTP ingest
 * (envelope, registered payload schemas, limits) without an HTTP hop or a token. Reads REDIS_URL,
 * BRAIN_STREAM and BRAIN_EVENTSTREAM_MODE as the gateway does.
 */
import { createEventPublisher } from "brain-event-gateway";
import { createEvent, missionEvents } from "brain-event-gateway/catalog";

const publisher = createEventPublisher({ catalog: missionEvents });
const missionId = process.env["MISSION_ID"] ?? `m-${Date.now()}`;
const from = { source: "mission_queue", producer: "mission_control_example", source_module: "missions" };

try {
  // A batch is appended atomically and in order, or refused whole with nothing written.
  const events = [
    createEvent(missionEvents, "mission.created", { mission_id: missionId, title: "Dock inspection" }, from),
    createEvent(missionEvents, "mission.started", { mission_id: missionId, assigned_to: "rover-5" }, from),
  ];
  const results = await publisher.publishBatch(events);
  events.forEach((event, i) => console.log(`${event.type} ${missionId} → stream ${results[i].stream_message_id}`));

  const cancelled = createEvent(
    missionEvents,
    "mission.cancelled",
    { mission_id: missionId, reason: "dock closed" },
    from,
  );
  const result = await publisher.publish(cancelled);
  console.log(`${cancelled.type} ${missionId} → stream ${result.stream_message_id}`);
} catch (error) {
  // Refusals carry what the HTTP error body would: statusCode, code and details (JSON pointers).
  const { statusCode, code, details } = error as { statusCode?: number; code?: string; details?: unknown };
  if (statusCode === undefined) throw error;
  console.error(`refused: ${statusCode} ${code}`, details);
  process.exitCode = 1;
} finally {
  await publisher.close();
}
