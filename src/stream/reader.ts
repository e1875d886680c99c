/**
 * The blocking read of one consumer in one group: XREADGROUP … BLOCK for new entries (`>`), on a
 * connection of its own, since a blocked connection would stall every other command queued on it.
 */
import type { RedisClient } from "./connections.js";
import { blockingDuplicate } from "./connections.js";
import type { RawEntry } from "./pel.js";

export class GroupReader {
  private readonly blocking: RedisClient;

  /** `redis` is the consumer's command connection; the reader blocks on a lazy duplicate of it. */
  constructor(
    redis: RedisClient,
    private readonly stream: string,
    private readonly group: string,
    private readonly consumer: string,
  ) {
    this.blocking = blockingDuplicate(redis);
  }

  /**
   * Up to `count` entries never delivered to the group (attempt 1), waiting up to `blockMs` for
   * one to arrive; rejects with NOGROUP when the group is gone (see groups.ts `isNoGroup`).
   */
  async read(count: number, blockMs: number): Promise<RawEntry[]> {
    if (this.blocking.status === "wait") await this.blocking.connect();
    const reply = await this.blocking.xreadgroup(
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
    const entries = (reply?.[0]?.[1] ?? []) as [string, string[]][];
    return entries.map(([id, fields]) => ({ id, fields, attempt: 1 }));
  }

  /** Drops the connection at once: a read blocked on it rejects, and the caller is stopping. */
  close(): void {
    this.blocking.disconnect();
  }
}
