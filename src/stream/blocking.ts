/**
 * A connection for blocking reads (XREAD … BLOCK), which would stall every other command queued
 * on a shared connection (docs/STACK-NOTES.md §2), so it is never the command connection.
 *
 * In cluster mode the connection is a plain one to the master that owns `key`'s slot, not a
 * second Cluster client: a Cluster client opens sockets to many nodes (seeds, its pub/sub node,
 * slot refreshes). The owner comes from the command connection's slot map; a MOVED reply (after
 * a failover or a reshard) moves the connection to the node it names, and a lost connection asks
 * the slot map again.
 */
import { Cluster, Redis } from "ioredis";
import calculateSlot from "cluster-key-slot";
import { blockingDuplicate, connectionName, type RedisClient } from "./connections.js";

const MOVED = /^MOVED [0-9]+ (\S+):([0-9]+)/;

export class BlockingConnection {
  private blocking: RedisClient | null = null;
  /** Cluster mode: the node to read from next (from a MOVED reply), else the slot map's owner. */
  private target: { host: string; port: number } | null = null;

  /** `redis` is the command connection this one stands beside; `key` decides the node in cluster mode. */
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly role: string,
  ) {}

  /** The connection, connected (or connecting again after `failed`). */
  async get(): Promise<RedisClient> {
    if (this.blocking !== null) {
      if (this.blocking.status === "wait") await this.blocking.connect();
      return this.blocking;
    }
    const cluster = this.redis;
    if (!(cluster instanceof Cluster)) {
      this.blocking = blockingDuplicate(cluster, this.role);
      await this.blocking.connect();
      return this.blocking;
    }
    if (cluster.status === "wait") await cluster.connect();
    const owner = this.target ?? this.owner(cluster);
    if (owner === null) throw new Error(`no node serves the slot of ${this.key} yet`);
    const blocking = new Redis({
      ...cluster.options.redisOptions,
      host: owner.host,
      port: owner.port,
      lazyConnect: true,
      commandTimeout: undefined,
      connectionName: connectionName(this.role),
      // A lost node is not waited for: the next read asks the slot map for the new owner.
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    blocking.on("error", () => {}); // reported by the read loop
    this.blocking = blocking;
    await blocking.connect();
    return blocking;
  }

  /** After a failed read in cluster mode: MOVED names the new owner; any other failure asks the slot map again. */
  failed(err: Error): void {
    if (!(this.redis instanceof Cluster)) return;
    const moved = MOVED.exec(err.message ?? "");
    this.close();
    this.target = moved === null ? null : { host: moved[1]!, port: Number(moved[2]) };
    if (moved === null) this.redis.refreshSlotsCache();
  }

  /** Drops the connection at once: a read blocked on it rejects, and the caller is stopping. */
  close(): void {
    this.blocking?.disconnect();
    this.blocking = null;
  }

  private owner(cluster: Cluster): { host: string; port: number } | null {
    const key = cluster.slots[calculateSlot(this.key)]?.[0];
    if (key === undefined) return null;
    const colon = key.lastIndexOf(":");
    return { host: key.slice(0, colon), port: Number(key.slice(colon + 1)) };
  }
}
