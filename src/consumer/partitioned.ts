/**
 * One subscriber's consumer over every partition: an EventConsumer per partition stream (each
 * its own consumer group and blocking reader), sharing one max_in_flight budget. Every process
 * runs one, so a partition is consumed while any process runs, and a dead process's pending
 * entries are taken over by the others after claimIdleMs (event-consumer.ts).
 */
import type { StreamKeys } from "../stream/keys.js";
import { EventConsumer } from "./event-consumer.js";
import { Slots } from "./slots.js";
import type { EventConsumerOptions, EventHandler } from "./types.js";

export type PartitionedConsumerOptions<R> = Omit<EventConsumerOptions<R>, "stream" | "partition" | "slots"> & {
  keys: StreamKeys;
};

export class PartitionedConsumer<R = void> {
  private readonly parts: EventConsumer<R>[];

  constructor(opts: PartitionedConsumerOptions<R>) {
    const { keys, ...rest } = opts;
    const slots = new Slots(opts.maxInFlight ?? 32);
    const count = keys.partitions.length;
    this.parts = keys.partitions.map(
      (p) => new EventConsumer<R>({ ...rest, stream: p.stream, partition: { index: p.index, count }, slots }),
    );
  }

  start(): void {
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
    await Promise.all(this.parts.map((part) => part.stop(timeoutMs)));
  }
}
