/**
 * The replay API's service (docs/CONTRACT.md §7): creating a replay resolves its range against
 * the streams as they are now and refuses a range already trimmed; the dispatchers run it
 * (delivery/replay.ts). Listing, reading and cancelling read and write the `replays` rows only.
 */
import { randomUUID } from "node:crypto";
import type { Db } from "../db/client.js";
import {
  cancelReplay,
  countActiveReplays,
  getReplay,
  insertReplay,
  listReplays,
  type ReplayRow,
} from "../db/replays.js";
import { getSubscriberRow } from "../db/subscribers.js";
import { errors } from "../errors.js";
import { MAX_PER_SECOND_DEFAULT, type CreateReplay, type Replay } from "../schemas/replay.js";
import type { RedisClient } from "../stream/connections.js";
import { qualifyId } from "../stream/ids.js";
import type { StreamKeys } from "../stream/keys.js";
import { streamBounds } from "../stream/entries.js";
import { assertStored, parseBound, resolveRanges, scopeOf } from "./replay-range.js";

export interface ReplayContext {
  db: Db;
  redis: RedisClient;
  keys: StreamKeys;
}

/** Pending or running replays a subscriber may have at once: each one sends at up to its own rate. */
export const MAX_ACTIVE_REPLAYS = 5;

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

/** A row as the API shows it: ids qualified by their partition when there are several. */
export function replayView(row: ReplayRow, partitions: number): Replay {
  const q = (partition: number, id: string) => qualifyId(partitions, partition, id);
  return {
    id: row.id,
    subscriber: row.subscriberName,
    state: row.state,
    from: row.fromSpec,
    to: row.toSpec,
    event_types: row.eventTypes,
    max_per_second: row.maxPerSecond,
    total: row.total,
    sent: row.sent,
    delivered: row.delivered,
    failed: row.failed,
    error: row.error,
    ranges: row.ranges.map((r) => ({
      partition: r.partition,
      from: q(r.partition, r.start),
      to: q(r.partition, r.end),
      position: r.position === null ? null : q(r.partition, r.position),
    })),
    created_at: row.createdAt.toISOString(),
    started_at: iso(row.startedAt),
    finished_at: iso(row.finishedAt),
  };
}

/** 404 for an unknown subscriber; with `webhookOnly`, 409 for an internal consumer. */
async function assertSubscriber(db: Db, name: string, webhookOnly = false): Promise<void> {
  const row = await getSubscriberRow(db, name);
  if (row === null) throw new errors.NotFound(`no subscriber named ${name}`);
  if (webhookOnly && row.kind !== "webhook") {
    throw new errors.Conflict(`${name} is an internal consumer; replays re-send to webhook subscribers only`);
  }
}

/** Creates a replay (state `pending`); 404 unknown subscriber, 400 bad range, 409 trimmed range or too many. */
export async function createReplay(ctx: ReplayContext, name: string, body: CreateReplay): Promise<Replay> {
  const partitions = ctx.keys.partitions.length;
  const from = parseBound(body.from, partitions, "/from");
  const to = body.to === undefined ? null : parseBound(body.to, partitions, "/to");
  const scope = scopeOf(from, to, partitions);
  await assertSubscriber(ctx.db, name, true);
  const active = await countActiveReplays(ctx.db, name);
  if (active >= MAX_ACTIVE_REPLAYS) {
    throw new errors.Conflict(
      `${name} has ${active} replays pending or running, the most it may have; cancel one or wait for one to end`,
    );
  }
  const bounds = new Map(
    await Promise.all(
      scope.map(async (p) => [p, await streamBounds(ctx.redis, ctx.keys.partitions[p]!.stream)] as const),
    ),
  );
  const ranges = resolveRanges(from, to, scope, bounds);
  assertStored(ranges, bounds, partitions);
  const row = await insertReplay(ctx.db, {
    id: randomUUID(),
    subscriberName: name,
    fromSpec: body.from,
    toSpec: body.to ?? null,
    ranges,
    eventTypes: body.event_types ?? null,
    maxPerSecond: body.max_per_second ?? MAX_PER_SECOND_DEFAULT,
  });
  return replayView(row, partitions);
}

async function found(ctx: ReplayContext, name: string, id: string, row: ReplayRow | null): Promise<Replay> {
  if (row !== null) return replayView(row, ctx.keys.partitions.length);
  await assertSubscriber(ctx.db, name);
  throw new errors.NotFound(`subscriber ${name} has no replay ${id}`);
}

export async function showReplay(ctx: ReplayContext, name: string, id: string): Promise<Replay> {
  return found(ctx, name, id, await getReplay(ctx.db, name, id));
}

/** The newest `limit` replays of the subscriber; 404 when it is unknown. */
export async function listSubscriberReplays(ctx: ReplayContext, name: string, limit: number): Promise<Replay[]> {
  const [rows] = await Promise.all([listReplays(ctx.db, name, limit), assertSubscriber(ctx.db, name)]);
  return rows.map((r) => replayView(r, ctx.keys.partitions.length));
}

/** Cancels a pending or running replay (its runner stops within a second); idempotent. */
export async function cancelSubscriberReplay(ctx: ReplayContext, name: string, id: string): Promise<Replay> {
  return found(ctx, name, id, await cancelReplay(ctx.db, name, id));
}
