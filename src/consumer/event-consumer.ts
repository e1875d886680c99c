/**
 * EventConsumer: the Charter's consumer (C idempotency, D error handling) as a reusable class.
 * Webhook delivery is one handler plugged into it; in-process consumers can use it the same way.
 *
 * Redis structures: the stream, and one consumer group per subscriber (named like it). Each
 * process joins the group as its own consumer (a unique name per process). The group's PEL is
 * the only retry queue: an entry leaves it only when it was delivered or dead-lettered.
 * Postgres: `processed_events` (the dedup key (subscriber_name, stream_message_id)) and
 * `dead_letters`.
 *
 * State machine of one entry, as seen by the process holding it:
 *
 *   read (XREADGROUP >, attempt 1) ─┐
 *   reclaimed (XAUTOCLAIM, attempt = PEL delivery count) ─┤
 *   retry due (XCLAIM by owner, attempt = count + 1) ─────┤
 *                                                         ▼
 *     trimmed ─► dead letter `trimmed`            ┌── dedup check (one query per batch)
 *     type not handled ─► XACK (no dedup row) ◄───┤   processed before ─► XACK, no call
 *                                                 └── call handler (at most maxInFlight at once)
 *        ok ─► dedup row `delivered` ─► XACK
 *        PermanentError, or attempt = maxAttempts ─► dead letter + dedup row `dead_lettered` ─► XACK
 *        other error ─► NO ACK: waits in the PEL, leased, until its retry is due
 *
 * Design: no Postgres transaction is held across the handler. The
 * order is the Charter's: dedup check, call, insert dedup row, XACK. Rows and XACKs of a batch
 * are written together by a group commit (settler.ts). This is safe because an entry is
 * reclaimed by another process only after it was idle for claimIdleMs, which config validation
 * keeps above every request timeout, so two consumers never hold one entry at once. A receiver
 * sees a duplicate only when the process or Postgres fails between the 2xx and the dedup insert.
 *
 * Retries live in the PEL: after a transient failure the entry stays pending and its due time
 * (schedule ±20 %, or Retry-After capped at the longest delay) is kept in this process. A
 * heartbeat (`XCLAIM … JUSTID`, which counts no delivery) renews the lease on every entry held
 * here, so XAUTOCLAIM elsewhere (minIdle = claimIdleMs) takes only entries of dead processes.
 * When a retry is due, a plain XCLAIM by the owner re-fetches it and bumps the delivery count,
 * which is the attempt number and so keeps counting across crashes and reclaims. A reclaimed
 * entry is retried at once (its due time died with its process). While maxRetryBacklog
 * entries wait for a retry, no new entries are read (a read already blocking may still bring
 * one batch), which bounds memory when a subscriber is down for long.
 *
 * Failures: NOGROUP → recreate the group after the newest id in processed_events (or just
 * before the oldest entry still waiting for a retry here) and carry on. Postgres down → nothing
 * is called or ACKed; the batch waits and retries. Redis down → back off and resume.
 *
 * Connections: none of its own. The consumer reads with a non-blocking XREADGROUP on the command
 * connection it is given (in a script that ACKs the types it does not handle right there, so
 * their payloads never reach it: stream/pel.ts `readWanted`) and, between reads, waits on the
 * process's stream watcher (stream/watcher.ts: one blocking XREAD for every consumer), which
 * wakes it as soon as an entry it wants arrives, and at most once a second for entries it does
 * not want (so they are still ACKed). It keeps reading while reads come back full. Retries are
 * one timer armed for the earliest due entry; the lease heartbeat and the reclaim run every
 * claimIdleMs/3 and claimIdleMs/2, a few commands a minute per consumer with the default
 * claimIdleMs.
 *
 * Usage (the dedup and dead-letter tables need a `subscribers` row named like the group):
 *
 *   const consumer = new EventConsumer({ redis, db, stream, subscriber: "billing", consumer: uniqueName,
 *     handlers: {
 *       "mission.created": async (e) => bill(e.event),
 *       "mission.deleted": async () => { throw new PermanentError("unsupported"); },
 *     },
 *     retryScheduleMs: [5000, 300_000], claimIdleMs: 60_000, log });
 *   consumer.start();
 *   await consumer.stop(15_000);
 */
import { prefixOf, TypeMatcher } from "../schemas/type-patterns.js";
import { newestProcessedId, processedIds, type DeadLetterReason } from "../db/processed-events.js";
import { decodeEntry } from "../stream/entries.js";
import { compareIds, qualifyId } from "../stream/ids.js";
import { groupName } from "../stream/keys.js";
import { isNoGroup, recreateGroup } from "../stream/groups.js";
import {
  ack,
  autoClaim,
  deleteDeadConsumers,
  ownClaim,
  pendingCount,
  readNew,
  readWanted,
  type RawEntry,
  type TypeFilter,
} from "../stream/pel.js";
import { StreamWatcher, type Watch } from "../stream/watcher.js";
import { retryDelayMs } from "./retry-timing.js";
import { KeyOrder } from "./ordering.js";
import { Settler } from "./settler.js";
import { Slots } from "./slots.js";
import {
  PermanentError,
  TransientError,
  type ConsumedEvent,
  type EventConsumerOptions,
  type EventHandler,
} from "./types.js";

const READ_COUNT = 100;
/** Due retries left for want of a free slot are looked at again after this long, not in a spin. */
const RETRY_SPACING_MS = 50;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** One process's consumer in one subscriber's group; see the module comment for its state machine. */
export class EventConsumer<R = void> {
  /** The process's watcher, or one of its own when none was given (it then closes it on stop). */
  private readonly watcher: StreamWatcher;
  private readonly ownWatcher: boolean;
  private watch: Watch | null = null;
  /** The one retry timer, armed for `retryAt`, the earliest due time (Infinity: none armed). */
  private retryTimer: NodeJS.Timeout | null = null;
  private retryAt = Infinity;
  private readonly settler: Settler;
  private readonly group: string;
  /** Exact types, prefix patterns and `*` (schemas/type-patterns.ts); own keys only, so `valueOf` is just a type. */
  private handlers: TypeMatcher<EventHandler<R>>;
  /** The handled types for the read that drops the others in Redis; null with `*` (every type is read). */
  private filter: TypeFilter | null;
  private maxAttempts: number;
  private readonly slots: Slots;
  private readonly maxRetryBacklog: number;
  private readonly partition: number;
  private readonly partitions: number;
  /**
   * Entries this process holds (checking, in flight, waiting for a retry or settling): leased.
   * Here and in `retries` entries go by their id in the partition's stream; handlers, dedup rows
   * and dead letters see the qualified id (stream/ids.ts).
   */
  private readonly held = new Set<string>();
  /** Entries waiting for a retry → due time. */
  private readonly retries = new Map<string, number>();
  private readonly active = new Set<Promise<void>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private readLoop: Promise<void> | null = null;
  private stopped: Promise<void> | null = null;
  private busy = { retries: false, reclaim: false, heartbeat: false, lease: false };
  /** Ordered delivery (consumer/ordering.ts): null when the subscriber's ordering is `none`. */
  private readonly order: KeyOrder | null;
  /** Until when this process may consume the partition for an ordered subscriber (its lease, less a margin). */
  private leaseUntil = 0;
  /** Entries of earlier holders taken over since this lease began, admitted together in stream order. */
  private takeover: RawEntry[] | null = null;
  /** A blocking read is in progress (a lease is given back only between reads). */
  private reading = false;
  /** Over this process's share: no more reads, and the lease goes back once no read is in progress. */
  private yielding = false;
  /** Bumped whenever the partition is given up (ordered): entries of an older epoch are no longer ours to order. */
  private epoch = 0;
  /** Calls of an older epoch still running; a takeover waits for them, since a failed one goes back to the PEL. */
  private staleRuns = 0;
  private reclaimRounds = 0;

  constructor(private readonly opts: EventConsumerOptions<R>) {
    this.group = groupName(opts.subscriber);
    this.handlers = new TypeMatcher(Object.entries(opts.handlers));
    this.filter = typeFilter(Object.keys(opts.handlers));
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.slots = opts.slots ?? new Slots(opts.maxInFlight ?? 32);
    this.maxRetryBacklog = opts.maxRetryBacklog ?? 1000;
    this.partition = opts.partition?.index ?? 0;
    this.partitions = opts.partition?.count ?? 1;
    this.order = opts.orderLease === undefined ? null : new KeyOrder();
    this.ownWatcher = opts.watcher === undefined;
    this.watcher =
      opts.watcher ??
      new StreamWatcher(opts.redis, [opts.stream], (err) => this.warn(err, "watching the stream failed"));
    const onError = (err: unknown) => this.warn(err, "settling deliveries failed; retrying");
    this.settler = new Settler(opts.db, opts.redis, opts.stream, opts.subscriber, this.group, onError, (id) =>
      this.entryId(id),
    );
  }

  /** Applies changed handlers or limits at runtime; entries already held keep going. */
  configure(change: Pick<EventConsumerOptions<R>, "handlers" | "maxAttempts" | "maxInFlight">): void {
    this.handlers = new TypeMatcher(Object.entries(change.handlers));
    this.filter = typeFilter(Object.keys(change.handlers));
    this.maxAttempts = change.maxAttempts ?? this.maxAttempts;
    if (change.maxInFlight !== undefined) this.slots.resize(change.maxInFlight);
    this.watch?.changed();
  }

  /** Starts reading, retrying, reclaiming and heartbeating. */
  start(): void {
    this.watch = this.watcher.watch(this.opts.stream, this.group, (type) => this.handlerFor(type) !== undefined);
    this.readLoop = this.read(this.watch);
    const every = (ms: number, job: keyof typeof this.busy, fn: () => Promise<void>) => {
      this.timers.push(
        setInterval(() => {
          if (this.busy[job] || this.stopping) return;
          this.busy[job] = true;
          fn()
            .catch((err) => this.warn(err, `${job} failed`))
            .finally(() => (this.busy[job] = false));
        }, ms).unref(),
      );
    };
    every(Math.max(100, Math.floor(this.opts.claimIdleMs / 3)), "heartbeat", () => this.heartbeat());
    every(Math.max(250, Math.floor(this.opts.claimIdleMs / 2)), "reclaim", () => this.reclaim());
    if (this.order !== null) {
      const lease = () => this.renewLease().catch((err) => this.warn(err, "renewing the partition's lease failed"));
      void lease();
      every(Math.max(100, Math.floor(this.opts.claimIdleMs / 3)), "lease", lease);
    }
  }

  /**
   * Graceful stop: no new reads or calls; calls in flight finish and are settled, all within
   * `timeoutMs`. Entries not finished stay pending for another consumer. Idempotent.
   */
  stop(timeoutMs: number): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      const deadline = Date.now() + timeoutMs;
      for (const t of this.timers) clearInterval(t);
      if (this.retryTimer !== null) clearTimeout(this.retryTimer);
      this.watch?.close();
      if (this.ownWatcher) await this.watcher.close();
      this.slots.close();
      await Promise.race([Promise.allSettled([this.readLoop, ...this.active]), sleep(timeoutMs)]);
      await this.settler.close(deadline);
      // Another process takes the partition over at once instead of after the lease's TTL.
      if (this.leaseUntil > 0) await this.opts.orderLease?.release().catch(() => {});
    })();
    return this.stopped;
  }

  private async read(watch: Watch): Promise<void> {
    let backoff = 100;
    while (!this.stopping) {
      try {
        if (this.retries.size >= this.maxRetryBacklog || !(await this.mayRead())) {
          // Nudged when that changes (a retry round, a lease taken), else looked at every second.
          await watch.pause();
          continue;
        }
        // Woken by the slot release that makes room, not by polling: a poll interval left
        // max_in_flight idle at high rates (bench/RESULTS.md).
        await this.slots.whenLoadBelow(this.readAheadLimit());
        if (this.stopping) break;
        // Ordered: waiting for room may have outlasted the lease; nothing is read once another
        // process may hold the partition.
        if (this.order !== null && this.leaseUntil - Date.now() < 100) continue;
        // Taken before the read: an entry appended after it has moved the version by the wait.
        const mark = watch.version();
        this.reading = true;
        const { read, entries } = await this.readBatch().finally(() => (this.reading = false));
        backoff = 100;
        await this.admit(entries, false);
        if (read < READ_COUNT) await watch.wait(mark);
      } catch (err) {
        if (this.stopping) break;
        try {
          if (isNoGroup(err)) {
            await this.healGroup();
            continue;
          }
          this.warn(err, "reading the stream failed; retrying");
        } catch (healErr) {
          this.warn(healErr, "recreating the consumer group failed; retrying");
        }
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** New entries; those of types nobody here handles are ACKed in Redis and not returned. */
  private async readBatch(): Promise<{ read: number; entries: RawEntry[] }> {
    const { redis, stream, consumer } = this.opts;
    if (this.filter !== null) return readWanted(redis, stream, this.group, consumer, READ_COUNT, this.filter);
    const entries = await readNew(redis, stream, this.group, consumer, READ_COUNT);
    return { read: entries.length, entries };
  }

  /**
   * Reads ahead by one batch: the next batch is read and dedup-checked while the current one is
   * still in flight, so the subscriber's max_in_flight stays busy instead of draining between reads.
   */
  private readAheadLimit(): number {
    return this.slots.capacity() + READ_COUNT;
  }

  private hasCapacity(): boolean {
    return this.slots.load() < this.readAheadLimit() && this.retries.size < this.maxRetryBacklog;
  }

  /**
   * Ordered delivery reads new entries only while it holds the partition's lease, once every
   * entry left pending by earlier holders is taken over, and while fewer than maxRetryBacklog
   * events wait behind their keys.
   */
  private async mayRead(): Promise<boolean> {
    if (this.order === null) return true;
    if (!this.holdsLease() || this.yielding) return false;
    if (this.takeover !== null) {
      const pending = await pendingCount(this.opts.redis, this.opts.stream, this.group);
      if (this.staleRuns > 0 || pending > this.held.size + this.takeover.length) return false;
      const entries = this.takeover.sort((a, b) => compareIds(a.id, b.id));
      this.takeover = null;
      await this.admit(entries, true);
    }
    return this.order.waiting < this.maxRetryBacklog;
  }

  /** Takes or renews the partition's lease; losing it drops every entry not in flight. */
  private async renewLease(): Promise<void> {
    const ttl = this.opts.claimIdleMs;
    const share = this.opts.orderShare;
    const log = { subscriber: this.opts.subscriber, partition: this.partition };
    if (this.leaseUntil !== 0 && !this.holdsLease()) {
      // Not renewed in time (Redis or this process stalled): another process may hold it now.
      this.dropPartition();
      this.opts.log.warn(log, "ordered delivery: the partition's lease lapsed; its entries go to whoever holds it");
    }
    if (this.holdsLease() && (this.yielding || share?.shouldYield(this.partition))) {
      // Over this process's share (another process joined): give this partition back between
      // reads; until then the lease is renewed as usual, so it never lapses under held entries.
      this.yielding = true;
      if (!this.reading) {
        await this.opts.orderLease!.release();
        this.dropPartition();
        this.opts.log.info(log, "ordered delivery: partition handed over to share the load with another process");
        return;
      }
    }
    if (!this.holdsLease() && share !== undefined && !share.mayTake()) return;
    const held = await this.opts.orderLease!.hold();
    if (held && !this.holdsLease()) {
      this.dropPartition();
      this.takeover = [];
      this.opts.log.info(log, "ordered delivery: this process now consumes the partition");
    }
    if (held) {
      // A margin below the TTL: this process stops starting deliveries before another may begin.
      const gained = !this.holdsLease();
      this.leaseUntil = Date.now() + Math.floor(ttl * 0.8);
      if (gained) this.watch?.nudge();
      return;
    }
    if (this.leaseUntil === 0) return;
    this.dropPartition();
    this.opts.log.warn(
      log,
      "ordered delivery: lost the partition's lease; another process takes over its pending entries",
    );
  }

  /** True while this process may consume the partition for an ordered subscriber. */
  holdsLease(): boolean {
    return Date.now() < this.leaseUntil;
  }

  /**
   * This process stops consuming the partition (ordered): a new epoch, so entries still in flight
   * finish without starting the next of their key or scheduling a retry (consumer/ordering.ts).
   */
  private dropPartition(): void {
    this.leaseUntil = 0;
    this.yielding = false;
    this.epoch++;
    this.staleRuns = this.active.size;
    this.forgetOrdered();
  }

  /** Forgets entries waiting for a retry or behind their key: whoever takes over re-reads them in order. */
  private forgetOrdered(): void {
    for (const id of this.retries.keys()) this.held.delete(id);
    this.retries.clear();
    for (const id of this.order?.queued() ?? []) this.held.delete(this.entryId(id));
    this.order?.clear();
    this.takeover = null;
  }

  /** Trimmed/filtered/deduped entries are settled here; the rest are launched. */
  private async admit(raw: RawEntry[], own: boolean): Promise<void> {
    const entries = own ? raw : raw.filter((e) => !this.held.has(e.id));
    for (const e of entries) this.held.add(e.id);
    const unwanted: string[] = [];
    const wanted: ConsumedEvent[] = [];
    for (const e of entries) {
      const decoded = decodeEntry(this.qualify(e.id), e.fields);
      if (e.fields === null)
        void this.deadLetter(
          e.id,
          null,
          "trimmed",
          null,
          "the entry was trimmed from the stream before delivery",
          e.attempt,
          null,
        );
      else if (decoded === null)
        void this.deadLetter(
          e.id,
          null,
          "permanent_status",
          null,
          "the entry holds no parseable event",
          e.attempt,
          null,
        );
      else if (!this.handlerFor(decoded.event.type)) unwanted.push(e.id);
      else wanted.push({ ...decoded, attempt: e.attempt, partition: this.partition });
    }
    let done: Set<string> | null = null;
    for (let backoff = 200; done === null && !this.stopping; backoff = Math.min(backoff * 2, 5000)) {
      try {
        done = await processedIds(
          this.opts.db,
          this.opts.subscriber,
          wanted.map((w) => w.streamMessageId),
        );
      } catch (err) {
        this.warn(err, "dedup check failed (Postgres?); nothing is delivered or ACKed until it is back");
        await sleep(backoff);
      }
    }
    if (done === null) {
      for (const w of wanted) this.held.delete(this.entryId(w.streamMessageId)); // stopping: they stay pending
      return;
    }
    for (const w of wanted) {
      if (done.has(w.streamMessageId)) unwanted.push(this.entryId(w.streamMessageId));
      else this.launch(w);
    }
    if (unwanted.length > 0) {
      // On failure they stay pending unleased, and a later reclaim runs them through here again.
      await ack(this.opts.redis, this.opts.stream, this.group, unwanted).catch((err) => this.warn(err, "XACK failed"));
      for (const id of unwanted) this.held.delete(id);
    }
  }

  /** The handler an event of `type` goes to now (most specific pattern); undefined when none. */
  handlerFor(type: string): EventHandler<R> | undefined {
    return this.handlers.match(type);
  }

  private launch(event: ConsumedEvent): void {
    if (this.order !== null && !this.order.enter(event)) return; // waits behind its key
    const epoch = this.epoch;
    const run = this.run(event, epoch)
      .then((finished) => {
        if (epoch !== this.epoch && --this.staleRuns <= 0) {
          this.staleRuns = 0;
          this.watch?.nudge(); // a takeover may have waited for it
        }
        const next = finished && epoch === this.epoch ? this.order?.leave(event) : undefined;
        if (next !== undefined && !this.stopping) this.launch(next);
      })
      .finally(() => this.active.delete(run));
    this.active.add(run);
  }

  /**
   * Handles one entry; resolves true once it is finished (delivered, dead-lettered or dropped),
   * false while it waits for a retry (or the consumer stops).
   */
  private async run(event: ConsumedEvent, epoch: number): Promise<boolean> {
    const id = this.entryId(event.streamMessageId);
    if (event.attempt > this.maxAttempts) {
      // Crashes or reclaims used up the attempts without a recorded answer.
      await this.deadLetter(
        id,
        event.event.id ?? null,
        "max_attempts_exceeded",
        null,
        `delivered ${event.attempt - 1} times without an answer`,
        event.attempt - 1,
        event.json,
      );
      return true;
    }
    if (!(await this.slots.acquire())) {
      this.held.delete(id);
      return false;
    }
    const handler = this.handlerFor(event.event.type);
    if (handler === undefined) {
      // configure() dropped this type meanwhile: it is filtered now, ACKed without a dedup row.
      this.slots.release();
      await ack(this.opts.redis, this.opts.stream, this.group, [id]).catch((err) => this.warn(err, "XACK failed"));
      this.held.delete(id);
      return true;
    }
    let error: Error | null = null;
    let value: R | undefined;
    try {
      value = await handler(event);
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err));
    } finally {
      this.slots.release();
    }
    if (error === null) {
      this.opts.onAttempt?.({ event, outcome: "delivered", value, error });
      await this.settler.settle({ id: event.streamMessageId, eventId: event.event.id ?? null });
      this.held.delete(id);
      return true;
    }
    if (error instanceof PermanentError || event.attempt >= this.maxAttempts) {
      this.opts.onAttempt?.({ event, outcome: "dead_lettered", value, error });
      const reason = error instanceof PermanentError ? error.reason : "max_attempts_exceeded";
      const status = error instanceof PermanentError || error instanceof TransientError ? error.statusCode : null;
      await this.deadLetter(id, event.event.id ?? null, reason, status, error.message, event.attempt, event.json);
      return true;
    }
    this.opts.onAttempt?.({ event, outcome: "retry", value, error });
    // Ordered, after the partition went to another process: that process retries it, in order.
    if (this.stopping || (this.order !== null && epoch !== this.epoch)) this.held.delete(id);
    else {
      const retryAfter = error instanceof TransientError ? error.retryAfterMs : null;
      const due = Date.now() + retryDelayMs(this.opts.retryScheduleMs, event.attempt, retryAfter);
      this.retries.set(id, due);
      this.armRetries(due);
    }
    return false;
  }

  private async deadLetter(
    id: string,
    eventId: string | null,
    reason: DeadLetterReason,
    statusCode: number | null,
    error: string | null,
    attempts: number,
    event: string | null,
  ): Promise<void> {
    const qualified = this.qualify(id);
    await this.settler.settle({ id: qualified, eventId, deadLetter: { reason, statusCode, error, attempts, event } });
    this.held.delete(id);
    this.opts.onDeadLetter?.(qualified, reason);
  }

  /** The id handlers, dedup rows and dead letters know an entry by. */
  private qualify(id: string): string {
    return qualifyId(this.partitions, this.partition, id);
  }

  /** The entry's id in this partition's stream, from its qualified id. */
  private entryId(qualified: string): string {
    return this.partitions === 1 ? qualified : qualified.slice(qualified.indexOf(":") + 1);
  }

  /** Arms the retry timer for `at` unless it fires earlier already; a round in progress re-arms when it ends. */
  private armRetries(at: number): void {
    if (this.stopping || this.busy.retries || at >= this.retryAt) return;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryAt = at;
    this.retryTimer = setTimeout(() => this.retryRound(), Math.max(0, at - Date.now())).unref();
  }

  private retryRound(): void {
    this.retryTimer = null;
    this.retryAt = Infinity;
    if (this.stopping) return;
    this.busy.retries = true;
    const before = this.retries.size;
    this.fireRetries()
      .catch((err) => this.warn(err, "retries failed"))
      .finally(() => {
        this.busy.retries = false;
        if (before >= this.maxRetryBacklog && this.retries.size < this.maxRetryBacklog) this.watch?.nudge();
        let next = Infinity;
        for (const at of this.retries.values()) next = Math.min(next, at);
        if (next !== Infinity) this.armRetries(Math.max(next, Date.now() + RETRY_SPACING_MS));
      });
  }

  /** Re-fetches due retries with an owner-only XCLAIM (bumping the attempt) and runs them again. */
  private async fireRetries(): Promise<void> {
    const now = Date.now();
    const free = Math.max(1, this.slots.free());
    const due: string[] = [];
    for (const [id, at] of this.retries) {
      if (at <= now && due.length < free) due.push(id);
    }
    if (due.length === 0) return;
    for (const id of due) this.retries.delete(id);
    let claimed;
    try {
      claimed = await ownClaim(this.opts.redis, this.opts.stream, this.group, this.opts.consumer, "fetch", due);
    } catch (err) {
      for (const id of due) this.retries.set(id, now + 1000);
      if (!isNoGroup(err)) throw err;
      return; // the read loop recreates the group
    }
    for (const id of claimed.lost) this.held.delete(id);
    await this.admit(claimed.owned, true);
  }

  /** Renews the lease on every held entry; forgets retries another consumer took meanwhile. */
  private async heartbeat(): Promise<void> {
    if (this.held.size === 0) return;
    const { lost } = await ownClaim(this.opts.redis, this.opts.stream, this.group, this.opts.consumer, "justid", [
      ...this.held,
    ]);
    for (const id of lost) {
      if (this.retries.delete(id)) this.held.delete(id);
    }
  }

  /** Takes over entries of dead consumers; trimmed ones become dead letters. */
  private async reclaim(): Promise<void> {
    if (this.order !== null && !this.holdsLease()) return; // another process holds the partition
    if (!this.hasCapacity()) return;
    const { stream } = this.opts;
    const { entries, deletedIds } = await autoClaim(
      this.opts.redis,
      stream,
      this.group,
      this.opts.consumer,
      this.opts.claimIdleMs,
      READ_COUNT,
    );
    for (const id of deletedIds) {
      this.held.add(id);
      void this.deadLetter(id, null, "trimmed", null, "the entry was trimmed from the stream before delivery", 0, null);
    }
    if (this.takeover !== null) {
      // Admitted together, in stream order, once all are taken over (mayRead).
      const fresh = entries.filter((e) => !this.held.has(e.id));
      for (const e of fresh) this.held.add(e.id);
      this.takeover.push(...fresh);
      this.watch?.nudge(); // the read loop admits them once all are in
    } else {
      await this.admit(entries, false);
    }
    if (++this.reclaimRounds % 4 === 0) {
      await deleteDeadConsumers(this.opts.redis, stream, this.group, this.opts.consumer, 2 * this.opts.claimIdleMs);
    }
  }

  private async healGroup(): Promise<void> {
    if (this.opts.shouldRecreateGroup && !(await this.opts.shouldRecreateGroup())) {
      await sleep(1000);
      return;
    }
    const prefix = this.qualify("");
    const newest = await newestProcessedId(this.opts.db, this.opts.subscriber, prefix);
    const oldestWaiting = [...this.retries.keys()].sort(compareIds)[0] ?? null;
    const start = await recreateGroup(this.opts.redis, this.opts.stream, this.opts.subscriber, newest, oldestWaiting);
    // Their PEL entries vanished with the group; the recreated group reads them again.
    this.epoch++;
    this.forgetOrdered();
    this.opts.log.warn(
      { subscriber: this.opts.subscriber, partition: this.partition, start },
      "consumer group was missing (NOGROUP); recreated",
    );
  }

  private warn(err: unknown, msg: string): void {
    this.opts.log.warn({ subscriber: this.opts.subscriber, err: (err as Error)?.message ?? String(err) }, msg);
  }
}

/** The exact types and prefixes of a consumer's handler keys; null when `*` takes every type. */
function typeFilter(patterns: string[]): TypeFilter | null {
  if (patterns.includes("*")) return null;
  const prefixes = patterns.map(prefixOf).filter((p): p is string => p !== null);
  return { exact: patterns.filter((p) => prefixOf(p) === null), prefixes };
}
