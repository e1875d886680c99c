/**
 * Every Redis key and consumer-group name the gateway uses is built here.
 *
 * Redis structures (one Redis, one stream per deployment):
 * - `<stream>` (BRAIN_STREAM, default `brain:events:stream`): the event stream. Each entry has one
 *   field, `event`, holding the envelope as JSON exactly as it is delivered.
 * - one consumer group per subscriber, named like the subscriber. Its PEL (pending entries list)
 *   is the retry queue: an entry is ACKed only once it was delivered or dead-lettered, so the
 *   stream never disagrees with a second queue.
 * - `<stream>:idem:<credential>:key:<Idempotency-Key>` and `<stream>:idem:<credential>:id:<event id>`
 *   (strings, 24 h TTL): `<stream id> <event id> <fingerprint>` of an accepted ingest, written in the
 *   same Lua script as the XADD so two racing requests cannot both append. `<credential>` is the
 *   credential id of the token that sent it (plugins/auth.ts), so producers cannot replay or probe
 *   each other's keys; header keys and body ids live apart, so one never answers for the other.
 * - `<stream>:lock:<name>` (string with PX TTL): a lease that lets one process at a time run a
 *   periodic job (the trimmer).
 * - `<stream>:subscribers:changed` (pub/sub channel): nudges every process to reload subscribers.
 * - `<stream>:event-types` (hash): the event-type registry, event type → JSON
 *   `{"created_at", "description", "schema", "deprecated", "updated_at"}`, `created_at` always first
 *   so a replacement keeps it without parsing the schema (stream/event-types.ts). Next to the
 *   stream because ingest, which enforces it, needs nothing but Redis (docs/CONTRACT.md §6).
 * - `<stream>:event-types:version` (integer): INCRed in the same script as every change of the
 *   registry; each process polls it (one GET a second) and reloads the hash when it moved.
 */
/** Where an idempotency key came from: the Idempotency-Key header, or an event's body id. */
export type IdempotencyKind = "key" | "id";

export interface StreamKeys {
  stream: string;
  idempotency(credential: string, kind: IdempotencyKind, key: string): string;
  lock(name: string): string;
  subscribersChanged: string;
  eventTypes: string;
  eventTypesVersion: string;
}

/** Consumer group of a subscriber: its name, which docs/CONTRACT.md §3 restricts to `[a-z0-9_-]`. */
export const groupName = (subscriber: string): string => subscriber;

export function streamKeys(stream: string): StreamKeys {
  return {
    stream,
    idempotency: (credential, kind, key) => `${stream}:idem:${credential}:${kind}:${key}`,
    lock: (name) => `${stream}:lock:${name}`,
    subscribersChanged: `${stream}:subscribers:changed`,
    eventTypes: `${stream}:event-types`,
    eventTypesVersion: `${stream}:event-types:version`,
  };
}
