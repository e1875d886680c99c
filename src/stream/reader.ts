/**
 * The blocking read of one consumer in one group: XREADGROUP … BLOCK for new entries (`>`), on a
 * connection of its own, since a blocked connection would stall every other command queued on it.
 *
 * In cluster mode the connection is a plain one to the master that owns the partition's slot,
 * not a second Cluster client: a Cluster client opens sockets to many nodes (seeds, its
 * pub/sub node, slot refreshes), which made ~5 sockets per partition and subscriber. The owner
 * comes from the command connection's slot map; a MOVED reply (after a failover or a reshard)
 * moves the reader to the node it names, and a lost connection asks the slot map again.
 */
import { Cluster, Redis } from "ioredis";
import calculateSlot from "cluster-key-slot";
import { blockingDuplicate, type RedisClient } from "./connections.js";
import type { RawEntry } from "./pel.js";

const MOVED = /^MOVED [0-9]+ (\S+):([0-9]+)/;

export class GroupReader {
  private blocking: RedisClient | null = null;
  /** Cluster mode: the node to read from next (from a MOVED reply), else the slot map's owner. */
  private target: { host: string; port: number } | null = null;

  /** `redis` is the consumer's command connection; the reader blocks on a connection of its own. */
  constructor(
    private readonly redis: RedisClient,
    private readonly stream: string,
    private readonly group: string,
    private readonly consumer: string,
  ) {}

  /**
   * Up to `count` entries never delivered to the group (attempt 1), waiting up to `blockMs` for
   * one to arrive; rejects with NOGROUP when the group is gone (see groups.ts `isNoGroup`).
   */
  async read(count: number, blockMs: number): Promise<RawEntry[]> {
    const blocking = await this.connection();
    let reply: unknown;
    try {
      reply = await blocking.xreadgroup(
        "GROUP",
        this.group,
        this.consumer,
        "COUNT",
        count,
        "BLOCK",
        blockMs,
        "STREAMS",
        this.stream,
        ">",
      );
    } catch (err) {
      if (this.redis instanceof Cluster) this.follow(err as Error);
      throw err;
    }
    const entries = ((reply as [string, [string, string[]][]][] | null)?.[0]?.[1] ?? []) as [string, string[]][];
    return entries.map(([id, fields]) => ({ id, fields, attempt: 1 }));
  }

  /** Drops the connection at once: a read blocked on it rejects, and the caller is stopping. */
  close(): void {
    this.blocking?.disconnect();
    this.blocking = null;
  }

  private async connection(): Promise<RedisClient> {
    if (this.blocking !== null) {
      if (this.blocking.status === "wait") await this.blocking.connect();
      return this.blocking;
    }
    const cluster = this.redis;
    if (!(cluster instanceof Cluster)) {
      this.blocking = blockingDuplicate(cluster);
      await this.blocking.connect();
      return this.blocking;
    }
    if (cluster.status === "wait") await cluster.connect();
    const owner = this.target ?? this.owner(cluster);
    if (owner === null) throw new Error(`no node serves the slot of ${this.stream} yet`);
    const blocking = new Redis({
      ...cluster.options.redisOptions,
      host: owner.host,
      port: owner.port,
      lazyConnect: true,
      commandTimeout: undefined,
      // A lost node is not waited for: the next read asks the slot map for the new owner.
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    blocking.on("error", () => {}); // reported by the read loop
    this.blocking = blocking;
    await blocking.connect();
    return blocking;
  }

  private owner(cluster: Cluster): { host: string; port: number } | null {
    const key = cluster.slots[calculateSlot(this.stream)]?.[0];
    if (key === undefined) return null;
    const colon = key.lastIndexOf(":");
    return { host: key.slice(0, colon), port: Number(key.slice(colon + 1)) };
  }

  /** After a failed read: MOVED names the new owner; any other failure but NOGROUP asks the slot map again. */
  private follow(err: Error): void {
    const moved = MOVED.exec(err.message ?? "");
    if (moved === null && (err.message ?? "").startsWith("NOGROUP")) return;
    this.close();
    this.target = moved === null ? null : { host: moved[1]!, port: Number(moved[2]) };
    if (moved === null) (this.redis as Cluster).refreshSlotsCache();
  }
}
