/**
 * The partition count is part of the stream's layout: the partition of an event is a hash of its
 * routing key modulo the count, so changing it on a live stream would move ordering keys to other
 * partitions (breaking per-key order) and strand entries in partitions no process reads. The
 * count a stream was created with is kept next to it (keys.ts `partitionCount`) and checked at
 * start; docs/CLUSTER.md describes how to move to another count (a new BRAIN_STREAM).
 */
import { StartupError } from "../errors.js";
import type { RedisClient } from "./connections.js";
import type { StreamKeys } from "./keys.js";

/**
 * Records the count on first use, or rejects with a StartupError naming both counts when the
 * stream was created with another one. `untagged` is the one-partition stream of a standalone
 * deployment, which predates the record: its existence means one partition.
 */
export async function checkPartitionCount(
  redis: RedisClient,
  keys: StreamKeys,
  stream: string,
  untagged: string,
): Promise<void> {
  const count = keys.partitions.length;
  let stored = await redis.get(keys.partitionCount);
  if (stored === null && keys.stream !== untagged && (await redis.exists(untagged)) === 1) stored = "1";
  if (stored === null) {
    await redis.set(keys.partitionCount, String(count), "NX");
    stored = (await redis.get(keys.partitionCount)) ?? String(count);
  }
  if (stored !== String(count)) {
    throw new StartupError(
      `BRAIN_STREAM_PARTITIONS is ${count} but the stream ${stream} was created with ${stored} partition(s); ` +
        "changing the count of a live stream would reorder and strand its events: keep " +
        `BRAIN_STREAM_PARTITIONS=${stored}, or move to a new BRAIN_STREAM (docs/CLUSTER.md)`,
    );
  }
}
