/**
 * Administration of the event-type registry (routes/event-types.ts): register or replace a type
 * with its payload schema, read, list and delete. Reads go to Redis, so they show every process's
 * latest change; writes reload this process's registry before they answer, so the next request
 * here is already held to them.
 */
import type { RedisClient } from "../stream/connections.js";
import { errors } from "../errors.js";
import type { EventTypeInfo, PutEventType } from "../schemas/event-type.js";
import { readEventType, readEventTypes, removeEventType, writeEventType } from "../stream/event-types.js";
import type { StreamKeys } from "../stream/keys.js";
import { admitSchema } from "./payload-schemas.js";
import { parseStoredEntry, type EventTypeRegistry } from "./registry.js";

/** Types registered at most: each is compiled to code in every process. */
export const MAX_EVENT_TYPES = 1000;

export interface EventTypeAdmin {
  redis: RedisClient;
  keys: StreamKeys;
  registry: EventTypeRegistry;
}

const notFound = (type: string) => new errors.NotFound(`event type "${type}" is not registered`);

/** This process's registry, reloaded after a change; a failure leaves it to the next poll. */
async function reload(admin: EventTypeAdmin): Promise<void> {
  await admin.registry.load().catch(() => {});
}

/**
 * Registers `type` or replaces its entry (keeping `created_at`) once its schema is admitted
 * (400 otherwise); 409 when MAX_EVENT_TYPES other types are registered.
 */
export async function putEventType(
  admin: EventTypeAdmin,
  type: string,
  body: PutEventType,
): Promise<{ created: boolean; eventType: EventTypeInfo }> {
  const schemaJson = JSON.stringify(body.schema);
  admitSchema(body.schema, schemaJson);
  const now = new Date().toISOString();
  const fields = [
    `"description":${JSON.stringify(body.description)}`,
    `"schema":${schemaJson}`,
    `"deprecated":${body.deprecated === true}`,
    `"updated_at":"${now}"`,
  ];
  const json = `{${fields.join(",")}}`;
  const result = await writeEventType(admin.redis, admin.keys, type, json, now, MAX_EVENT_TYPES);
  if (result.outcome === "full") {
    throw new errors.Conflict(`${MAX_EVENT_TYPES} event types are registered, the most allowed: delete one first`);
  }
  await reload(admin);
  return { created: result.outcome === "created", eventType: parseStoredEntry(type, result.stored)! };
}

/** One registered type; 404 when there is none. */
export async function getEventType(admin: EventTypeAdmin, type: string): Promise<EventTypeInfo> {
  const stored = await readEventType(admin.redis, admin.keys, type);
  const info = stored === null ? null : parseStoredEntry(type, stored);
  if (info === null) throw notFound(type);
  return info;
}

/** Every registered type, sorted by type (code-unit order, as the types are ASCII). */
export async function listEventTypes(admin: EventTypeAdmin): Promise<EventTypeInfo[]> {
  const { entries } = await readEventTypes(admin.redis, admin.keys);
  return [...entries]
    .map(([type, stored]) => parseStoredEntry(type, stored))
    .filter((info): info is EventTypeInfo => info !== null)
    .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

/** Deletes a registered type: its events are no longer checked; 404 when there is none. */
export async function deleteEventType(admin: EventTypeAdmin, type: string): Promise<void> {
  if (!(await removeEventType(admin.redis, admin.keys, type))) throw notFound(type);
  await reload(admin);
}
