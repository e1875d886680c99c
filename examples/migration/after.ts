/**
 * After: the same event built by createEvent from the mission catalog and sent by the client. The
 * payload is checked as it is written (compiler) and before it is sent (at run time), `meta` is
 * filled in, and the event carries an id from the start, so sending it again is a replay.
 */
import { BrainEventsClient } from "brain-event-gateway/client";
import { createEvent, missionEvents } from "brain-event-gateway/catalog";

const client = new BrainEventsClient<typeof missionEvents>({
  baseUrl: process.env["GATEWAY_URL"] ?? "http://127.0.0.1:8080",
  token: process.env["GATEWAY_TOKEN"] ?? "",
});
const event = createEvent(
  missionEvents,
  "mission.created",
  { mission_id: "m-42", title: "Survey sector 7", priority: "high" },
  { source: "mission_queue", producer: "mission_queue_manager", source_module: "missions" },
);

// What a retry after a lost answer does: the same event again. The gateway answers with the first result.
for (const attempt of ["first", "again"]) {
  const result = await client.publish(event);
  console.log(`${attempt}: stream ${result.stream_message_id}, id ${result.id}, replayed ${result.replayed}`);
}
