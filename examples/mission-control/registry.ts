/**
 * Registers the mission catalog's payload schemas with the gateway. From then on the gateway itself
 * refuses a mission event whose payload does not match, whoever sends it and however. Reads
 * GATEWAY_URL, GATEWAY_ADMIN_TOKEN (admin scope, to register) and GATEWAY_TOKEN (publish scope).
 */
import { BrainApiError, BrainEventsClient } from "brain-event-gateway/client";
import { missionEvents } from "brain-event-gateway/catalog";

const baseUrl = process.env["GATEWAY_URL"] ?? "http://127.0.0.1:8080";
const admin = new BrainEventsClient({ baseUrl, token: required("GATEWAY_ADMIN_TOKEN") });
await admin.registerCatalog(missionEvents);
console.log(`registered ${Object.keys(missionEvents).join(", ")}`);

// Untyped, as a producer without the catalog: the compiler lets this payload through, the gateway does not.
const producer = new BrainEventsClient({ baseUrl, token: required("GATEWAY_TOKEN") });
const meta = { schema_version: 1, producer: "legacy_queue", source_module: "missions" };
try {
  await producer.publish({ type: "mission.started", source: "mission_queue", payload: { mission: "m-1" }, meta });
  console.log("accepted, so the registry did not check it");
} catch (error) {
  if (!(error instanceof BrainApiError)) throw error;
  console.log(`refused: ${error.statusCode} ${error.code} ${JSON.stringify(error.details)}`);
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
