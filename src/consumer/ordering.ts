/**
 * Per-key ordered delivery (subscriber `ordering: "key"`): events with one `ordering_key` reach
 * the subscriber one at a time, in stream order. A key's events all live in one partition (the
 * partition is a hash of the key: stream/keys.ts), so two rules make it hold across processes
 * and crashes:
 *
 * 1. One process per (subscriber, partition): it holds a Redis lease (`<partition>:order:<name>`,
 *    TTL BRAIN_CLAIM_IDLE_MS, renewed every third of it). Others do not read that partition for
 *    the subscriber. A process taking the lease over first takes over every entry still pending
 *    (they are older than anything unread) and starts them in stream order, and only then reads
 *    new ones. The processes share the leases fairly (OrderShare below): each takes at most
 *    ⌈partitions / live processes⌉ and gives one back per round while it holds more.
 * 2. Inside the process, KeyOrder below: an event whose key has an earlier event still being
 *    handled (in flight, or waiting for its retry) waits behind it; when that one is delivered or
 *    dead-lettered, the next is started. Events without an ordering_key are not held.
 *
 * A failing event therefore holds back its key until it is delivered or dead-lettered, while other
 * keys keep flowing. Waiting events count against maxRetryBacklog, which bounds memory.
 */
import type { RedisClient } from "../stream/connections.js";
import { heartbeatMember, leaveMembers } from "../stream/members.js";
import type { ConsumedEvent } from "./types.js";

export class KeyOrder {
  /** Key → the qualified id of the event of that key being handled now. */
  private readonly heads = new Map<string, string>();
  /** Key → events waiting behind the head, in stream order. */
  private readonly queues = new Map<string, ConsumedEvent[]>();
  /** Events waiting behind a head. */
  waiting = 0;

  /** True when `event` may run now; otherwise it is queued behind its key's head. */
  enter(event: ConsumedEvent): boolean {
    const key = event.event.ordering_key;
    if (key === undefined) return true;
    const head = this.heads.get(key);
    if (head === undefined) {
      this.heads.set(key, event.streamMessageId);
      return true;
    }
    if (head === event.streamMessageId) return true;
    const queue = this.queues.get(key);
    if (queue === undefined) this.queues.set(key, [event]);
    else queue.push(event);
    this.waiting++;
    return false;
  }

  /** `event` is delivered or dead-lettered: returns the next event of its key, now its head. */
  leave(event: ConsumedEvent): ConsumedEvent | undefined {
    const key = event.event.ordering_key;
    if (key === undefined || this.heads.get(key) !== event.streamMessageId) return undefined;
    const queue = this.queues.get(key);
    const next = queue?.shift();
    if (next === undefined) {
      this.heads.delete(key);
      return undefined;
    }
    if (queue!.length === 0) this.queues.delete(key);
    this.waiting--;
    this.heads.set(key, next.streamMessageId);
    return next;
  }

  /** The qualified ids of the events waiting (not the heads). */
  queued(): string[] {
    return [...this.queues.values()].flatMap((q) => q.map((e) => e.streamMessageId));
  }

  /** Forgets everything (the partition's lease was lost, or its group recreated). */
  clear(): void {
    this.heads.clear();
    this.queues.clear();
    this.waiting = 0;
  }
}

/** What a partition's consumer asks before taking or keeping its lease. */
export interface LeaseShare {
  /** True while this process holds fewer leases than its share. */
  mayTake(): boolean;
  /** True when this process holds more than its share and `partition` is the one to give back. */
  shouldYield(partition: number): boolean;
}

/**
 * One process's share of an ordered subscriber's partitions. Every process delivering the
 * subscriber heartbeats its name into a sorted set; members silent for the TTL are dropped, so a
 * crashed process's share goes back to the others.
 */
export class OrderShare implements LeaseShare {
  private live = 1;

  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly member: string,
    private readonly ttlMs: number,
    private readonly partitions: number,
    /** Which partitions this process holds the lease of now. */
    private readonly held: () => number[],
  ) {}

  /** Heartbeat: records this process and counts the live ones. */
  async beat(): Promise<void> {
    this.live = Math.max(1, await heartbeatMember(this.redis, this.key, this.member, this.ttlMs));
  }

  /** Leaves at once (graceful stop), so the others take the partitions without waiting for the TTL. */
  async leave(): Promise<void> {
    await leaveMembers(this.redis, this.key, this.member);
  }

  private share(): number {
    return Math.ceil(this.partitions / this.live);
  }

  mayTake(): boolean {
    return this.held().length < this.share();
  }

  shouldYield(partition: number): boolean {
    const held = this.held();
    return held.length > this.share() && partition === Math.max(...held);
  }
}
