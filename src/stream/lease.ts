/**
 * A Redis lease: one process at a time runs a periodic job (the trimmer). The holder's random
 * token sits in `<stream>:lock:<name>` (SET NX PX); the holder renews it every run, and if it
 * dies the lease lapses after its TTL so another process takes over.
 */
import { randomUUID } from "node:crypto";
import type { Redis, Result } from "ioredis";

// Acquire when free, renew when ours; 0 when another process holds it.
const HOLD_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`;
// Deletes the lease only when it is still ours, so a late release cannot free another holder's.
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    brainLeaseHold(key: string, token: string, ttlMs: number): Result<0 | 1, Context>;
    brainLeaseRelease(key: string, token: string): Result<0 | 1, Context>;
  }
}

export class Lease {
  private readonly token = randomUUID();

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly ttlMs: number,
  ) {
    redis.defineCommand("brainLeaseHold", { lua: HOLD_LUA, numberOfKeys: 1 });
    redis.defineCommand("brainLeaseRelease", { lua: RELEASE_LUA, numberOfKeys: 1 });
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
