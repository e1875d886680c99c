/**
 * One subscriber's consumer over every partition: an EventConsumer per partition stream (each
 * its own consumer group), sharing one max_in_flight budget and the process's stream watcher
 * (one of its own when none is given). Every process
 * runs one, so a partition is consumed while any process runs, and a dead process's pending
 * entries are taken over by the others after claimIdleMs (event-consumer.ts).
 */
import type { StreamKeys } from "../stream/keys.js";
import { Lease } from "../stream/lease.js";
import { StreamWatcher } from "../stream/watcher.js";
import { OrderShare } from "./ordering.js";
import { EventConsumer } from "./event-consumer.js";
import { Slots } from "./slots.js";
import type { EventConsumerOptions, EventHandler } from "./types.js";

export type PartitionedConsumerOptions<R> = Omit<
  EventConsumerOptions<R>,
  "stream" | "partition" | "slots" | "orderLease"
> & {
  keys: StreamKeys;
  /** `key`: per-key ordered delivery (consumer/ordering.ts), one lease per partition. */
  ordering?: "none" | "key";
};

export class PartitionedConsumer<R = void> {
  private readonly parts: EventConsumer<R>[];
  private readonly share: OrderShare | null = null;
  private beat: NodeJS.Timeout | null = null;
  private readonly ownWatcher: StreamWatcher | null = null;

  constructor(private readonly opts: PartitionedConsumerOptions<R>) {
    const { keys, ordering, ...rest } = opts;
    if (rest.watcher === undefined) {
      const warn = (err: Error) =>
        rest.log.warn({ subscriber: rest.subscriber, err: err.message }, "watching the stream failed");
      this.ownWatcher = new StreamWatcher(
        rest.redis,
        keys.partitions.map((p) => p.stream),
        warn,
      );
      rest.watcher = this.ownWatcher;
    }
    const slots = new Slots(opts.maxInFlight ?? 32);
    const count = keys.partitions.length;
    if (ordering === "key") {
      const held = () => this.parts.flatMap((p, i) => (p.holdsLease() ? [i] : []));
      this.share = new OrderShare(
        rest.redis,
        keys.orderMembers(rest.subscriber),
        rest.consumer,
        rest.claimIdleMs,
        count,
        held,
      );
    }
    this.parts = keys.partitions.map(
      (p) =>
        new EventConsumer<R>({
          ...rest,
          stream: p.stream,
          partition: { index: p.index, count },
          slots,
          ...(this.share !== null
            ? {
                orderLease: new Lease(rest.redis, p.orderLease(rest.subscriber), rest.claimIdleMs),
                orderShare: this.share,
              }
            : {}),
        }),
    );
  }

  start(): void {
    const share = this.share;
    if (share !== null) {
      const beat = () =>
        share
          .beat()
          .catch((err: Error) =>
            this.opts.log.warn(
              { subscriber: this.opts.subscriber, err: err.message },
              "ordered delivery heartbeat failed",
            ),
          );
      void beat();
      this.beat = setInterval(beat, Math.max(100, Math.floor(this.opts.claimIdleMs / 3))).unref();
    }
    for (const part of this.parts) part.start();
  }

  configure(change: Pick<EventConsumerOptions<R>, "handlers" | "maxAttempts" | "maxInFlight">): void {
    for (const part of this.parts) part.configure(change);
  }

  handlerFor(type: string): EventHandler<R> | undefined {
    return this.parts[0]!.handlerFor(type);
  }

  /** Stops every partition's consumer together (they share the in-flight budget). */
  async stop(timeoutMs: number): Promise<void> {
    if (this.beat) clearInterval(this.beat);
    await Promise.all(this.parts.map((part) => part.stop(timeoutMs)));
    await this.ownWatcher?.close();
    await this.share?.leave().catch(() => {});
  }
}
