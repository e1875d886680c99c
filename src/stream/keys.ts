/**
 * Every Redis key and consumer-group name the gateway uses is built here.
 *
 * Redis structures (one stream per partition; BRAIN_STREAM_PARTITIONS, default 1):
 * - the event stream of each partition. With one partition in standalone mode it is `<stream>`
 *   (BRAIN_STREAM, default `brain:events:stream`), today's name, so a deployment upgrades in
 *   place. Otherwise partition i is `{<stream>:p<i>.<k>}`: the hash tag puts every key of the
 *   partition in one cluster slot, and `k` is the smallest number that puts partition i's slot in
 *   the i-th of N equal slot ranges, so partitions spread evenly over the masters
 *   (docs/CLUSTER.md). Each entry has one field, `event`, holding the envelope as JSON exactly as
 *   it is delivered.
 * - one consumer group per subscriber on each partition, named like the subscriber. Its PEL
 *   (pending entries list) is the retry queue: an entry is ACKed only once it was delivered or
 *   dead-lettered, so the stream never disagrees with a second queue.
 * - `<partition>:idem:<credential>:key:<Idempotency-Key>` and `<partition>:idem:<credential>:id:<event id>`
 *   (strings, 24 h TTL): `<stream id> <event id> <fingerprint>` of an accepted ingest, written in the
 *   same Lua script as the XADD so two racing requests cannot both append. They live with the
 *   partition the event went to (one slot per script). `<credential>` is the credential id of the
 *   token that sent it (plugins/auth.ts), so producers cannot replay or probe each other's keys;
 *   header keys and body ids live apart, so one never answers for the other.
 * - `<partition>:order:<subscriber>` (string with PX TTL): for a subscriber with `ordering: "key"`,
 *   the lease of the one process that consumes this partition for it (consumer/ordering.ts).
 * - `<meta>:lock:<name>` (string with PX TTL): a lease that lets one process at a time run a
 *   periodic job (the trimmer). `<meta>` is `<stream>`, or `{<stream>}` once partitions are tagged.
 * - `<meta>:order:<subscriber>:members` (sorted set, process → heartbeat ms): the processes sharing
 *   an ordered subscriber's partitions, so each takes its fair share of the leases.
 * - `<meta>:partitions` (string): the partition count the stream was created with; a process
 *   started with another count refuses to start (plugins/redis.ts).
 * - `<meta>:subscribers:changed` (pub/sub channel): nudges every process to reload subscribers.
 * - `<meta>:event-types` (hash): the event-type registry, event type → JSON
 *   `{"created_at", "description", "schema", "deprecated", "updated_at"}`, `created_at` always first
 *   so a replacement keeps it without parsing the schema (stream/event-types.ts). Next to the
 *   stream because ingest, which enforces it, needs nothing but Redis (docs/CONTRACT.md §6).
 * - `<meta>:event-types:version` (integer): INCRed in the same script as every change of the
 *   registry; each process polls it (one GET a second) and reloads the hash when it moved.
 * - `<meta>:volume:<minute>` (hash with a TTL of 25 h, minute = Unix ms / 60,000): events accepted
 *   in that minute, event type → count, summed over every process (stream/type-volume.ts). In
 *   `<meta>`'s slot, so one pipeline reads a day of them.
 */
import calculateSlot from "cluster-key-slot";
import { parseQualifiedId } from "./ids.js";

/** Where an idempotency key came from: the Idempotency-Key header, or an event's body id. */
export type IdempotencyKind = "key" | "id";

/** The keys of one partition: all in one cluster slot. */
export interface PartitionKeys {
  index: number;
  stream: string;
  idempotency(credential: string, kind: IdempotencyKind, key: string): string;
  orderLease(subscriber: string): string;
}

export interface StreamKeys {
  partitions: PartitionKeys[];
  /** Partition 0's stream: the only one when there is one partition. */
  stream: string;
  /** The partition and in-stream id of a qualified id (stream/ids.ts); null when it does not fit the layout. */
  locate(id: string): { partition: PartitionKeys; id: string } | null;
  lock(name: string): string;
  /** Processes delivering an ordered subscriber (sorted set: process → last heartbeat ms). */
  orderMembers(subscriber: string): string;
  partitionCount: string;
  subscribersChanged: string;
  eventTypes: string;
  eventTypesVersion: string;
  typeVolume(minute: number): string;
}

/** Consumer group of a subscriber: its name, which docs/CONTRACT.md §3 restricts to `[a-z0-9_-]`. */
export const groupName = (subscriber: string): string => subscriber;

const SLOTS = 16384;

/**
 * The hash tag of partition `i` of `n`: `{<stream>:p<i>.<k>}` with the smallest `k` whose slot
 * falls in the i-th of n equal slot ranges. CRC16 is fixed, so the tags never change for a given
 * stream name and count.
 */
export function partitionTag(stream: string, i: number, n: number): string {
  const lo = Math.floor((i * SLOTS) / n);
  const hi = Math.floor(((i + 1) * SLOTS) / n);
  for (let k = 0; ; k++) {
    const tag = `{${stream}:p${i}.${k}}`;
    const slot = calculateSlot(tag);
    if (slot >= lo && slot < hi) return tag;
  }
}

/**
 * The keys of a stream with `partitions` partitions. `tagged` (cluster mode, or more than one
 * partition) gives every partition its hash tag; untagged is today's single-stream layout.
 */
export function streamKeys(stream: string, partitions = 1, tagged = partitions > 1): StreamKeys {
  const meta = tagged ? `{${stream}}` : stream;
  const parts = Array.from({ length: partitions }, (_, index): PartitionKeys => {
    const key = tagged ? partitionTag(stream, index, partitions) : stream;
    return {
      index,
      stream: key,
      idempotency: (credential, kind, k) => `${key}:idem:${credential}:${kind}:${k}`,
      orderLease: (subscriber) => `${key}:order:${subscriber}`,
    };
  });
  return {
    partitions: parts,
    stream: parts[0]!.stream,
    locate: (qualified) => {
      const found = parseQualifiedId(partitions, qualified);
      return found === null ? null : { partition: parts[found.partition]!, id: found.id };
    },
    lock: (name) => `${meta}:lock:${name}`,
    orderMembers: (subscriber) => `${meta}:order:${subscriber}:members`,
    partitionCount: `${meta}:partitions`,
    subscribersChanged: `${meta}:subscribers:changed`,
    eventTypes: `${meta}:event-types`,
    eventTypesVersion: `${meta}:event-types:version`,
    typeVolume: (minute) => `${meta}:volume:${minute}`,
  };
}

/** The stream's keys for a configuration: tagged per partition in cluster mode or with several partitions. */
export function layout(config: {
  stream: string;
  streamPartitions: number;
  redisMode: "standalone" | "cluster";
}): StreamKeys {
  return streamKeys(
    config.stream,
    config.streamPartitions,
    config.redisMode === "cluster" || config.streamPartitions > 1,
  );
}

/**
 * The partition of an event: FNV-1a (32 bit) of the UTF-8 bytes of its routing key
 * (`ordering_key`, else its idempotency key: publisher.ts `PublishItem`), modulo the count.
 * Stable across processes and releases, so one ordering key always lands in one partition.
 */
export function partitionOf(routingKey: string, partitions: number): number {
  if (partitions === 1) return 0;
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(routingKey, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}
