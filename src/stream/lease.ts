/**
 * A Redis lease: one process at a time runs a periodic job (the trimmer). The holder's random
 * token sits in `<stream>:lock:<name>` (SET NX PX); the holder renews it every run, and if it
 * dies the lease lapses after its TTL so another process takes over. Scripts: brainLeaseHold,
 * brainLeaseRelease (scripts.ts).
 */
import { randomUUID } from "node:crypto";
import type { RedisClient } from "./connections.js";
import { withScripts } from "./scripts.js";

export class Lease {
  private readonly token = randomUUID();
  private readonly redis: RedisClient;

  constructor(
    redis: RedisClient,
    private readonly key: string,
    private readonly ttlMs: number,
  ) {
    this.redis = withScripts(redis);
  }

  /** Takes the lease or extends it; false while another process holds it. */
  async hold(): Promise<boolean> {
    return (await this.redis.brainLeaseHold(this.key, this.token, this.ttlMs)) === 1;
  }

  /** Gives the lease up at once (on shutdown) so another process need not wait for the TTL. */
  async release(): Promise<void> {
    await this.redis.brainLeaseRelease(this.key, this.token);
  }
}
