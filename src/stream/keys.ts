/**
 * Every Redis key and consumer-group name the gateway uses is built here.
 *
 * Redis structures (one Redis, one stream per deployment):
 * - `<stream>` (BRAIN_STREAM, default `brain:events:stream`): the event stream. Each entry has one
 *   field, `event`, holding the envelope as JSON exactly as it is delivered.
 * - one consumer group per subscriber, named like the subscriber. Its PEL (pending entries list)
 *   is the retry queue: an entry is ACKed only once it was delivered or dead-lettered, so the
 *   stream never disagrees with a second queue.
 * - `<stream>:idem:<key>` (string, 24 h TTL): `<stream id> <event id> <fingerprint>` of an accepted
 *   ingest, keyed by its Idempotency-Key header or body id; written in the same Lua script as the
 *   XADD so two racing requests cannot both append.
 * - `<stream>:lock:<name>` (string with PX TTL): a lease that lets one process at a time run a
 *   periodic job (the trimmer).
 * - `<stream>:subscribers:changed` (pub/sub channel): nudges every process to reload subscribers.
 */
export interface StreamKeys {
  stream: string;
  idempotency(key: string): string;
  lock(name: string): string;
  subscribersChanged: string;
}

/** Consumer group of a subscriber: its name, which docs/CONTRACT.md §3 restricts to `[a-z0-9_-]`. */
export const groupName = (subscriber: string): string => subscriber;

export function streamKeys(stream: string): StreamKeys {
  return {
    stream,
    idempotency: (key) => `${stream}:idem:${key}`,
    lock: (name) => `${stream}:lock:${name}`,
    subscribersChanged: `${stream}:subscribers:changed`,
  };
}
