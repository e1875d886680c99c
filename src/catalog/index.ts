/** `brain-event-gateway/catalog`: event catalogs, the mission lifecycle catalog, and createEvent. */
export { createEvent, defineEventCatalog, InvalidPayloadError } from "./catalog.js";
export type { CreateEventOptions, CreatedEvent, PayloadProblem } from "./catalog.js";
export { missionEvents } from "./missions.js";
export type { MissionEventType } from "./missions.js";
export type { BrainEvent, CatalogEvent, EventMeta, EventPayload, EventSchemas, EventType } from "./types.js";
