/**
 * The dispatcher: one PartitionedConsumer (an EventConsumer per partition: consumer/event-consumer.ts
 * documents the Redis structures and the delivery state machine) per enabled subscriber, each
 * delivering by webhook. All of them wait on one stream watcher (stream/watcher.ts), so the
 * process's Redis connections do not grow with its subscribers.
 *
 * Every process running it (BRAIN_ROLE all or dispatcher) joins every enabled subscriber's
 * consumer group under its own consumer name, so processes share the work and take over each
 * other's entries after a crash. Subscribers are reloaded from Postgres when a message arrives
 * on the change channel (stream/change-channel.ts, announced after every change) and by polling
 * every 2 s, so a change made through any process reaches every process within 5 s even when a
 * pub/sub message is lost. A new subscriber gets a consumer, a changed one is reconfigured in
 * place (URL, secrets, headers and timeout are read for every attempt), a disabled or deleted
 * one is stopped gracefully. A subscriber whose secrets cannot be opened is paused the same way,
 * alone, until they can.
 */
import type { FastifyBaseLogger } from "fastify";
import type { RedisClient } from "../stream/connections.js";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Config } from "../config.js";
import { PartitionedConsumer } from "../consumer/partitioned.js";
import type { EventHandler } from "../consumer/types.js";
import type { Db } from "../db/client.js";
import { isSubscriberEnabled } from "../db/subscribers.js";
import type { Metrics } from "../metrics.js";
import { listenForChanges } from "../stream/change-channel.js";
import type { StreamKeys } from "../stream/keys.js";
import { StreamWatcher } from "../stream/watcher.js";
import { AttemptLog } from "./attempt-log.js";
import { loadSubscribers, type SubscriberConfig, type UnreadableSubscriber } from "./subscriber-config.js";
import type { AttemptResult, WebhookClient } from "./webhook-client.js";
import { recordAttempt, webhookHandler, type WebhookDeps } from "./webhook-delivery.js";

const POLL_MS = 2000;

/** A consumer name unique to this process: exited processes' names are cleaned up later. */
export function consumerName(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

export interface DispatcherOptions {
  config: Config;
  keys: StreamKeys;
  db: Db;
  /** Command connection of the delivery side (stream/connections.ts `deliveryConnection`). */
  redis: RedisClient;
  /** A connection of its own for the change channel; the dispatcher subscribes it. */
  changes: RedisClient;
  changeChannel: string;
  client: WebhookClient;
  metrics: Metrics;
  log: FastifyBaseLogger;
}

interface Running {
  consumer: PartitionedConsumer<AttemptResult>;
  current: SubscriberConfig;
}

export class Dispatcher {
  readonly consumer = consumerName();
  private readonly deps: WebhookDeps;
  /** The process's stream watcher: its consumers wait on it, and so do live tails (plugins/event-tail.ts). */
  readonly watcher: StreamWatcher;
  private readonly running = new Map<string, Running>();
  /** Subscribers paused because their secrets cannot be opened; each is logged when it enters and leaves. */
  private readonly unreadable = new Set<string>();
  private poll: NodeJS.Timeout | null = null;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;
  private closed = false;

  constructor(private readonly opts: DispatcherOptions) {
    this.deps = {
      client: opts.client,
      db: opts.db,
      redis: opts.redis,
      changeChannel: opts.changeChannel,
      attempts: new AttemptLog(opts.db, opts.config.deliveryRetentionHours, opts.log),
      metrics: opts.metrics,
      log: opts.log,
    };
    this.watcher = new StreamWatcher(
      opts.redis,
      opts.keys.partitions.map((p) => p.stream),
      (err) => opts.log.warn({ err: err.message }, "watching the stream failed; retrying"),
    );
  }

  /** Subscribes to change notices, loads subscribers and starts polling. */
  async start(): Promise<void> {
    if (this.closed) return;
    this.deps.attempts.start();
    listenForChanges(this.opts.changes, this.opts.changeChannel, () => void this.reload());
    this.poll = setInterval(() => void this.reload(), POLL_MS).unref();
    await this.reload();
  }

  /** Reloads subscribers and applies the difference; concurrent calls coalesce into one more run. */
  reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.reloadAgain = false;
        try {
          let unreadable: UnreadableSubscriber[] = [];
          const loaded = await loadSubscribers(this.opts.db, this.opts.config.secretKey, (u) => (unreadable = u));
          this.noteUnreadable(unreadable, loaded);
          await this.apply(loaded);
        } catch (err) {
          this.opts.log.warn({ err: (err as Error).message }, "loading subscribers failed; will retry");
        }
      } while (this.reloadAgain && !this.closed);
    })().finally(() => (this.reloading = null));
    return this.reloading;
  }

  /** Logs each change of the paused set once, not on every 2 s poll. */
  private noteUnreadable(now: UnreadableSubscriber[], loaded: SubscriberConfig[]): void {
    const names = new Set(now.map((u) => u.name));
    for (const { name, reason } of now) {
      if (this.unreadable.has(name)) continue;
      this.unreadable.add(name);
      this.opts.log.error(
        { subscriber: name, reason },
        "subscriber paused: its signing secret cannot be opened; its events wait in its group until it can",
      );
    }
    for (const name of this.unreadable) {
      if (names.has(name)) continue;
      this.unreadable.delete(name);
      if (loaded.some((s) => s.name === name))
        this.opts.log.info({ subscriber: name }, "subscriber's signing secret opens again: delivery resumes");
    }
    this.opts.metrics.subscribersPaused.set(this.unreadable.size);
  }

  private async apply(subscribers: SubscriberConfig[]): Promise<void> {
    if (this.closed) return;
    const wanted = new Map(subscribers.filter((s) => s.enabled).map((s) => [s.name, s]));
    const stops: Promise<void>[] = [];
    for (const [name, run] of this.running) {
      if (wanted.has(name)) continue;
      this.running.delete(name);
      stops.push(run.consumer.stop(this.opts.config.shutdownTimeoutMs));
      const why = this.unreadable.has(name) ? "paused" : "disabled or deleted";
      this.opts.log.info({ subscriber: name }, `subscriber ${why}: delivery stopped`);
    }
    for (const sub of wanted.values()) {
      const run = this.running.get(sub.name);
      if (run && run.current.ordering !== sub.ordering) {
        // Ordering decides how the partitions are consumed: the consumer starts over with it.
        this.running.delete(sub.name);
        stops.push(
          run.consumer.stop(this.opts.config.shutdownTimeoutMs).then(() => {
            if (!this.closed && !this.running.has(sub.name)) this.startConsumer(sub);
          }),
        );
      } else if (run) {
        run.current = sub;
        run.consumer.configure(this.limits(sub, run));
      } else {
        this.startConsumer(sub);
      }
    }
    await Promise.all(stops);
  }

  private limits(sub: SubscriberConfig, run: Running) {
    const deliver = webhookHandler(this.deps, () => run.current);
    const handlers: Record<string, EventHandler<AttemptResult>> = Object.fromEntries(
      sub.eventTypes.map((t) => [t, deliver]),
    );
    return { handlers, maxAttempts: sub.maxAttempts, maxInFlight: sub.maxInFlight };
  }

  private startConsumer(sub: SubscriberConfig): void {
    const { config, db, log } = this.opts;
    const run = { current: sub } as Running;
    run.consumer = new PartitionedConsumer({
      redis: this.opts.redis,
      watcher: this.watcher,
      db,
      keys: this.opts.keys,
      ordering: sub.ordering,
      subscriber: sub.name,
      consumer: this.consumer,
      ...this.limits(sub, run),
      retryScheduleMs: config.retryScheduleMs,
      claimIdleMs: config.claimIdleMs,
      onAttempt: (record) => recordAttempt(this.deps, sub.name, record),
      onDeadLetter: (_id, reason) => this.deps.metrics.deadLetters.inc({ subscriber: sub.name, reason }),
      shouldRecreateGroup: () => isSubscriberEnabled(db, sub.name),
      log,
    });
    this.running.set(sub.name, run);
    run.consumer.start();
    log.info({ subscriber: sub.name, consumer: this.consumer }, "delivering to subscriber");
  }

  /** Names of the subscribers this process delivers to. */
  subscribers(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Graceful shutdown: every consumer stops reading, lets calls in flight finish within
   * `timeoutMs`, ACKs what succeeded and leaves the rest pending for another process.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    await this.reloading;
    await Promise.all([...this.running.values()].map((r) => r.consumer.stop(timeoutMs)));
    this.running.clear();
    await this.watcher.close();
    await this.deps.attempts.close();
  }
}
