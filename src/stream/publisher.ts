/**
 * The one module that writes to the event stream (Charter TEIL C: lint fails on XADD elsewhere).
 *
 * Appends with idempotency keys run inside one Lua script (scripts.ts, brainPublish) so that the
 * check, the XADD and the idempotency record are atomic: two racing requests with the same key
 * append once. Each event goes to the partition of its routing key (keys.ts `partitionOf`); a
 * script only ever touches one partition's keys, which share one cluster slot.
 *
 * A batch that spans partitions is checked in full first (every idempotency key of every
 * partition: a conflict anywhere appends nothing), then written one script per partition, all at
 * once. If a partition's write then fails, the others may have been appended: the answer is 503,
 * and a retry with the same ids (or Idempotency-Key) replays what was appended and appends the
 * rest, so nothing is written twice. Events without an id are the exception: they get a new id on
 * each try (docs/CLUSTER.md).
 *
 * With BRAIN_REDIS_MIN_REPLICAS > 0, each partition's script and a WAIT go in one pipeline, so
 * WAIT runs on the connection that wrote (WAIT counts only its own connection's writes). The
 * write is answered only once that many replicas hold it; else 503 `NOT_REPLICATED`. A replay is
 * confirmed the same way, so a retry is never answered 200 for an entry a failover could lose.
 */
import { Cluster } from "ioredis";
import { errors, redisFailure } from "../errors.js";
import calculateSlot from "cluster-key-slot";
import { closeConnection, duplicateConnection, type RedisClient } from "./connections.js";
import { qualifyId } from "./ids.js";
import { partitionOf, type IdempotencyKind, type PartitionKeys, type StreamKeys } from "./keys.js";
import { withScripts } from "./scripts.js";

/** Idempotency records live 24 h (docs/CONTRACT.md §3). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

export interface PublishItem {
  /** The envelope as it will be stored and delivered. */
  json: string;
  eventId: string;
  /**
   * Picks the partition: the event's ordering_key, else its idempotency key, so a retry finds its
   * record. Absent (neither): any partition will do, and the publisher keeps the request's such
   * events together (`publish`).
   */
  routingKey?: string;
  /** Idempotency-Key header or body id; absent when the request has neither. */
  idempotencyKey?: string;
  /** Which of the two `idempotencyKey` is: they are kept apart (keys.ts). */
  keyKind?: IdempotencyKind;
  /** Hash of the request as sent, to tell a retry from a key reused for another body (only with a key). */
  fingerprint?: string;
}

/**
 * `created`: appended. `replayed`: its key was accepted before with the same body; nothing was
 * appended. `conflict`: its key was accepted before with another body, so nothing of the whole
 * request was appended; `skipped`: another item of the request conflicted, so this one was not appended.
 */
export type PublishOutcome = "created" | "replayed" | "conflict" | "skipped";

export interface PublishResult {
  outcome: PublishOutcome;
  /** The new stream id, or the one recorded with the key ("" when skipped); qualified (ids.ts). */
  streamMessageId: string;
  eventId: string;
  fingerprint: string;
}

export interface PublisherOptions {
  /** BRAIN_STREAM_PARTITIONS: the length of `keys.partitions`. */
  partitions: number;
  /** BRAIN_REDIS_MIN_REPLICAS; 0 answers once the master has the entry. */
  minReplicas?: number;
  /** How long WAIT may take before the write is answered 503. */
  replicaTimeoutMs?: number;
}

type Reply = [0 | 1 | 2 | 3, string][];

/** A replicated write waiting for its master's next pipeline. */
interface PendingWrite {
  part: PartitionKeys;
  items: PublishItem[];
  credential: string;
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  /** Retries stop here; the request is answered 503. */
  deadline: number;
  /** Every item has an idempotency key, so running it twice replays instead of appending twice. */
  replays: boolean;
}

const OUTCOMES: PublishOutcome[] = ["replayed", "created", "conflict", "skipped"];

/** Errors after which the command was certainly not applied (a redirect or a cluster without owner). */
const NOT_APPLIED = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING)\b|All keys in the pipeline should belong/;
/** Errors after which the command may or may not have been applied. */
const UNKNOWN_OUTCOME = /Connection is closed|Command aborted due to connection close|Too many Cluster redirections/;
/** A pipelined write is retried for this long through a failover; then 503. */
const RETRY_BUDGET_MS = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A write's raw reply (XADD: an id; brainAppend: ids; brainPublish: [code, value] pairs) as a Reply. */
function toReply(items: PublishItem[], raw: unknown): Reply {
  if (items.some((item) => item.idempotencyKey !== undefined)) return raw as Reply;
  const ids = items.length === 1 ? [raw as string] : (raw as string[]);
  return ids.map((id): Reply[number] => [1, id]);
}

/** The fingerprint at the end of a record `<stream id> <event id> <fingerprint>`. */
const recordFingerprint = (record: string) => record.slice(record.lastIndexOf(" ") + 1);

export class Publisher {
  private readonly redis: RedisClient;
  private readonly partitions: number;
  private readonly minReplicas: number;
  private readonly replicaTimeoutMs: number;
  private holdReason: string | null = null;
  /** The partition for the next request whose events have no routing key (round robin). */
  private turn = 0;
  /** Replicated writes: their own connection, so WAIT blocks nothing else (the request connection otherwise). */
  private readonly writer: RedisClient;
  /** Replicated writes waiting for their master's pipeline, by pipeline group. */
  private readonly batches = new Map<string, { queue: PendingWrite[]; running: boolean }>();

  constructor(
    redis: RedisClient,
    private readonly keys: StreamKeys,
    options: PublisherOptions = { partitions: keys.partitions.length },
  ) {
    this.redis = withScripts(redis);
    this.partitions = options.partitions;
    this.minReplicas = options.minReplicas ?? 0;
    this.replicaTimeoutMs = options.replicaTimeoutMs ?? 1000;
    this.writer = this.minReplicas === 0 ? this.redis : withScripts(duplicateConnection(this.redis));
  }

  /**
   * Appends the items, each partition's in order and atomically, with idempotency keys scoped to
   * `credential` (plugins/auth.ts; "" for in-process producers); Redis failures become 503 (400
   * when Redis refused a value of the request). Without idempotency keys there is nothing to
   * check: one item is a plain XADD (less than half of Redis's CPU), a batch a leaner script
   * (bench/RESULTS.md). A script, not MULTI: one EVALSHA costs the gateway far less than 100
   * queued XADDs (a Command and a promise each).
   */
  async publish(items: PublishItem[], credential = ""): Promise<PublishResult[]> {
    this.checkHold();
    // Events without a routing key go to one partition per request, taken in turn: they still
    // spread over the partitions, and a batch of them is one script, as on one Redis.
    const free = this.nextFree();
    const partitionFor = (item: PublishItem) =>
      item.routingKey === undefined ? free : partitionOf(item.routingKey, this.partitions);
    // One partition (every single-event request, and any one-partition stream): no grouping.
    if (this.partitions === 1 || items.length === 1) {
      const p = partitionFor(items[0]!);
      const reply = await this.write(this.keys.partitions[p]!, items, credential);
      return items.map((item, i) => this.result(p, item, reply[i]!));
    }
    const byPartition = new Map<number, number[]>();
    items.forEach((item, i) => {
      const p = partitionFor(item);
      const list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, [i]);
      else list.push(i);
    });
    const results: PublishResult[] = new Array(items.length);
    if (byPartition.size > 1 && (await this.conflicts(items, byPartition, credential, results, partitionFor)))
      return results;
    const writes = await Promise.allSettled(
      [...byPartition].map(async ([p, indices]) => {
        const part = this.keys.partitions[p]!;
        const reply = await this.write(
          part,
          indices.map((i) => items[i]!),
          credential,
        );
        indices.forEach((i, j) => (results[i] = this.result(p, items[i]!, reply[j]!)));
      }),
    );
    const failed = writes.find((w): w is PromiseRejectedResult => w.status === "rejected");
    if (failed !== undefined) {
      const err = failed.reason as Error;
      if (byPartition.size > 1 && writes.some((w) => w.status === "fulfilled")) {
        err.message =
          `${err.message}; part of the batch may have been appended: retry it with the same ids, ` +
          "which replays what was appended and appends the rest";
      }
      throw err;
    }
    return results;
  }

  /**
   * `publish` of one item, as most requests are, without the arrays and the grouping. An item with
   * no key and no replicas to wait for is one XADD: nothing to check, nothing to translate.
   */
  async publishOne(item: PublishItem, credential = ""): Promise<PublishResult> {
    this.checkHold();
    const p = item.routingKey === undefined ? this.nextFree() : partitionOf(item.routingKey, this.partitions);
    const part = this.keys.partitions[p]!;
    if (item.idempotencyKey !== undefined || this.minReplicas > 0) {
      const reply = await this.write(part, [item], credential);
      return this.result(p, item, reply[0]!);
    }
    let id: string;
    try {
      id = (await this.redis.xadd(part.stream, "*", "event", item.json))!;
    } catch (cause) {
      throw redisFailure(cause);
    }
    return {
      outcome: "created",
      streamMessageId: qualifyId(this.partitions, p, id),
      eventId: item.eventId,
      fingerprint: "",
    };
  }

  private checkHold(): void {
    if (this.holdReason !== null) {
      throw Object.assign(new errors.StreamUnavailable(), {
        message: `the event stream is unavailable: ${this.holdReason}`,
      });
    }
  }

  /** The partition for a request whose events have no routing key. */
  private nextFree(): number {
    return this.partitions === 1 ? 0 : (this.turn = (this.turn + 1) % this.partitions);
  }

  /** Refuses every write with 503 and `reason` until called with null (plugins/redis.ts: the layout check). */
  hold(reason: string | null): void {
    this.holdReason = reason;
  }

  /**
   * A batch over several partitions: true when any key was accepted before with another body,
   * with `results` filled in as one script would (conflicts, the rest skipped); nothing is written.
   */
  private async conflicts(
    items: PublishItem[],
    byPartition: Map<number, number[]>,
    credential: string,
    results: PublishResult[],
    partitionFor: (item: PublishItem) => number,
  ): Promise<boolean> {
    const keyed = items.flatMap((item, i) => (item.idempotencyKey === undefined ? [] : [i]));
    if (keyed.length === 0) return false;
    const records = new Map<number, string | null>();
    try {
      await Promise.all(
        [...byPartition].map(async ([p, indices]) => {
          const withKey = indices.filter((i) => items[i]!.idempotencyKey !== undefined);
          if (withKey.length === 0) return;
          const part = this.keys.partitions[p]!;
          const pipe = this.redis.pipeline();
          for (const i of withKey) {
            const { idempotencyKey, keyKind = "id" } = items[i]!;
            pipe.get(part.idempotency(credential, keyKind, idempotencyKey!));
          }
          const replies = (await pipe.exec()) ?? [];
          withKey.forEach((i, j) => {
            const [err, value] = replies[j] ?? [new Error("no reply"), null];
            if (err) throw err;
            records.set(i, value as string | null);
          });
        }),
      );
    } catch (cause) {
      throw redisFailure(cause);
    }
    const clash = (i: number) => {
      const record = records.get(i);
      return record != null && recordFingerprint(record) !== (items[i]!.fingerprint ?? "");
    };
    if (!keyed.some(clash)) return false;
    items.forEach((item, i) => {
      const p = partitionFor(item);
      results[i] = clash(i)
        ? this.result(p, item, [2, records.get(i)!])
        : { outcome: "skipped", streamMessageId: "", eventId: item.eventId, fingerprint: item.fingerprint ?? "" };
    });
    return true;
  }

  private result(partition: number, item: PublishItem, [code, value]: Reply[number]): PublishResult {
    const outcome = OUTCOMES[code]!;
    if (outcome === "created") {
      return {
        outcome,
        streamMessageId: qualifyId(this.partitions, partition, value),
        eventId: item.eventId,
        fingerprint: item.fingerprint ?? "",
      };
    }
    if (outcome === "skipped")
      return { outcome, streamMessageId: "", eventId: item.eventId, fingerprint: item.fingerprint ?? "" };
    const [streamMessageId = "", eventId = "", fingerprint = ""] = value.split(" ");
    return { outcome, streamMessageId: qualifyId(this.partitions, partition, streamMessageId), eventId, fingerprint };
  }

  /** One partition's items in one script (or one XADD), confirmed by replicas when asked. */
  private async write(part: PartitionKeys, items: PublishItem[], credential: string): Promise<Reply> {
    try {
      if (this.minReplicas > 0) return await this.replicated(part, items, credential);
      return toReply(items, await this.queue(part, items, credential, this.redis));
    } catch (cause) {
      if ((cause as Error).name === "FastifyError") throw cause;
      throw redisFailure(cause);
    }
  }

  /**
   * Sends (on a connection) or queues (on a pipeline) the partition's write. On a connection it
   * returns the command's promise; on a pipeline ioredis returns the pipeline itself, and the
   * reply is only in exec's result.
   */
  private queue(
    part: PartitionKeys,
    items: PublishItem[],
    credential: string,
    target: RedisClient | ReturnType<RedisClient["pipeline"]>,
  ): unknown {
    const t = target as RedisClient;
    if (items.every((item) => item.idempotencyKey === undefined)) {
      return items.length === 1
        ? t.xadd(part.stream, "*", "event", items[0]!.json)
        : t.brainAppend(part.stream, ...items.map((item) => item.json));
    }
    const keys = [part.stream];
    const argv = [String(IDEMPOTENCY_TTL_SECONDS)];
    for (const { idempotencyKey: key, keyKind = "id", json, eventId, fingerprint = "" } of items) {
      keys.push(key === undefined ? part.stream : part.idempotency(credential, keyKind, key));
      argv.push(json, `${eventId} ${fingerprint}`, key === undefined ? "0" : "1");
    }
    return t.brainPublish(keys.length, ...keys, ...argv);
  }

  /**
   * Replicated writes (BRAIN_REDIS_MIN_REPLICAS > 0) go through a group commit: the writes queued
   * for one master go out in one pipeline that ends in one WAIT, on a connection of their own.
   * Redis blocks a connection during WAIT, so WAIT per request would serialise every write to a
   * master behind a replication round trip (and behind a 1 s timeout while it has no replica),
   * and would hold up the other traffic on that connection. One WAIT at a time per master, with
   * the writes that arrived meanwhile in the next one, costs a round trip per batch instead.
   */
  private replicated(part: PartitionKeys, items: PublishItem[], credential: string): Promise<Reply> {
    return new Promise((resolve, reject) =>
      this.enqueue({
        part,
        items,
        credential,
        resolve,
        reject,
        deadline: Date.now() + RETRY_BUDGET_MS,
        replays: items.every((item) => item.idempotencyKey !== undefined),
      }),
    );
  }

  /** The pipeline group of a stream key: what ioredis requires one cluster pipeline to share. */
  private groupOf(stream: string): string {
    const w = this.writer;
    return w instanceof Cluster ? (w.slots[calculateSlot(stream)]?.join(",") ?? "?") : "";
  }

  private enqueue(write: PendingWrite): void {
    const group = this.groupOf(write.part.stream);
    let batch = this.batches.get(group);
    if (batch === undefined) this.batches.set(group, (batch = { queue: [], running: false }));
    batch.queue.push(write);
    if (!batch.running) {
      batch.running = true;
      void this.flush(batch).finally(() => (batch.running = false));
    }
  }

  /**
   * Sends the group's queued writes and a WAIT in one pipeline, until the queue is empty. A write
   * is retried (through `enqueue`, as the slot may have moved) after a redirect, where nothing was
   * applied, and after a dropped connection only when it replays (every item has a key): ioredis
   * does not retry a pipeline in which a write succeeded (docs/CLUSTER.md).
   */
  private async flush(batch: { queue: PendingWrite[] }): Promise<void> {
    while (batch.queue.length > 0) {
      const now = Date.now();
      const live = batch.queue.splice(0).filter((w) => {
        if (now < w.deadline) return true;
        w.reject(new errors.NotReplicated(`no write with ${this.minReplicas} replica(s) confirmed in time`));
        return false;
      });
      if (live.length === 0) continue;
      const pipe = this.writer.pipeline();
      for (const w of live) this.queue(w.part, w.items, w.credential, pipe);
      pipe.wait(this.minReplicas, this.replicaTimeoutMs);
      let replies: [Error | null, unknown][] = [];
      let failure: Error | null = null;
      try {
        if (this.writer.status === "wait") await this.writer.connect();
        replies = ((await pipe.exec()) ?? []) as [Error | null, unknown][];
      } catch (err) {
        failure = err as Error;
      }
      const [waitError, acked] = replies[live.length] ?? [failure ?? new Error("no reply to WAIT"), 0];
      const replicas = waitError === null ? Number(acked) : 0;
      const again: PendingWrite[] = [];
      live.forEach((w, i) => {
        const [error, raw] = replies[i] ?? [failure ?? new Error("no reply"), null];
        const e = error ?? (waitError !== null && w.replays ? waitError : null);
        if (e !== null) {
          const retry = NOT_APPLIED.test(e.message) || (w.replays && UNKNOWN_OUTCOME.test(e.message));
          if (retry && Date.now() < w.deadline) again.push(w);
          else w.reject(e);
        } else if (replicas < this.minReplicas) {
          w.reject(
            new errors.NotReplicated(
              `the event was written but only ${replicas} of ${this.minReplicas} replicas confirmed it within ` +
                `${this.replicaTimeoutMs} ms (BRAIN_REDIS_MIN_REPLICAS); retry with the same id or Idempotency-Key`,
            ),
          );
        } else {
          w.resolve(toReply(w.items, raw));
        }
      });
      if (again.length > 0) {
        if (this.writer instanceof Cluster) this.writer.refreshSlotsCache();
        await sleep(250);
        for (const w of again) this.enqueue(w);
      }
    }
  }

  /** Closes the connection of replicated writes, if any. */
  async close(): Promise<void> {
    if (this.writer !== this.redis) await closeConnection(this.writer);
  }
}
