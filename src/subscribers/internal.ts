/**
 * Internal consumers (kind `internal`): consumers whose handlers run inside an application
 * (createEventConsumer). They share the subscribers table, the dedup and dead-letter tables and
 * the group-per-consumer layout with webhooks; the dispatchers never deliver them.
 */
import type { RedisClient } from "../stream/connections.js";
import { inTransaction, type Db } from "../db/client.js";
import { registerInternalRow } from "../db/subscribers.js";
import { errors } from "../errors.js";
import { createGroups, startId } from "../stream/groups.js";
import type { StreamKeys } from "../stream/keys.js";

export interface InternalRegistration {
  name: string;
  eventTypes: string[];
  description: string | null;
  /** `latest`, `earliest` or a stream id: where a consumer registered for the first time begins. */
  startFrom: string;
}

/**
 * Registers the consumer, or refreshes its event types when it exists. Only the call that
 * inserts the row creates the group, inside the row's transaction: of several processes starting
 * together exactly one creates it (at `startFrom`), and a Redis failure leaves no row behind.
 * Returns whether this call created it; 409 when a webhook subscriber has the name.
 */
export async function registerInternalConsumer(
  db: Db,
  redis: RedisClient,
  keys: StreamKeys,
  r: InternalRegistration,
): Promise<boolean> {
  return inTransaction(db, async (tx) => {
    const outcome = await registerInternalRow(tx, r.name, r.eventTypes, r.description);
    if (outcome === "taken") throw new errors.Conflict(`a webhook subscriber is named ${r.name}`);
    if (outcome === "created") await createGroups(redis, keys, r.name, startId(r.startFrom));
    return outcome === "created";
  });
}
