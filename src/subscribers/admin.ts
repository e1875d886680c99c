/**
 * Subscriber administration (docs/CONTRACT.md §3): the rules the schema cannot express, the Postgres row and
 * the Redis consumer group kept together, and the change notification every process listens to.
 * The routes are thin wrappers over these functions.
 */
import type { RedisClient } from "../stream/connections.js";
import type { Config } from "../config.js";
import { inTransaction, pgCode, type Db } from "../db/client.js";
import { outcomeStats, type OutcomeStats } from "../db/processed-events.js";
import * as store from "../db/subscribers.js";
import { generateSecret, PREVIOUS_SECRET_TTL_MS, sealSecret } from "../delivery/secrets.js";
import { errors } from "../errors.js";
import type { CreateSubscriber, Subscriber, UpdateSubscriber } from "../schemas/subscriber.js";
import { announceChange } from "../stream/change-channel.js";
import type { StreamKeys } from "../stream/keys.js";
import { createGroups, destroyGroups, partitionedGroupInfos, startId, type GroupInfo } from "../stream/groups.js";
import { checkHeaders, checkSecret, checkTimeout, checkUrl } from "./rules.js";

/** What the administration functions work with; plain values, so tests can call them directly. */
export interface AdminContext {
  db: Db;
  /** A fail-fast connection: while Redis is down, changes answer 503 at once. */
  redis: RedisClient;
  keys: StreamKeys;
  /** The pub/sub channel that makes every process reload subscribers. */
  changedChannel: string;
  config: Pick<Config, "webhookAllowPrivate" | "webhookTimeoutMs" | "claimIdleMs" | "secretKey">;
  /** Told when a change notification could not be published (the dispatchers' poll still catches it). */
  onNotifyError?: (err: Error) => void;
}

/** Redis failures on the admin path are 503s: the change did not happen and can be retried. */
async function onRedis<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (cause) {
    throw new errors.StreamUnavailable({ cause });
  }
}

/** Publishes the subscriber's name on the change channel; a failure never fails the request. */
async function notify(ctx: AdminContext, name: string): Promise<void> {
  try {
    await announceChange(ctx.redis, ctx.changedChannel, name);
  } catch (err) {
    ctx.onNotifyError?.(err as Error);
  }
}

/**
 * Runs a write of secret-bearing columns (secret, previous secrets, headers). A failed query's
 * error carries what must never reach a log line: Drizzle's message lists the parameters, and the
 * driver's `detail` or `where` can quote the row ("Failing row contains …"). Only a new error with
 * the Postgres or connection error code is passed on: it still maps to 503 while the database is
 * unreachable, and to a plain 500 otherwise.
 */
async function sensitiveWrite<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    const code = pgCode(err);
    throw Object.assign(new Error(`${what} failed${code === undefined ? "" : ` (${code})`}`), { code });
  }
}

/** Rotated-out secrets still signing at once, at most: each adds a signature to every delivery's header. */
const MAX_PREVIOUS_SECRETS = 10;

const notFound = (name: string) => new errors.NotFound(`no subscriber named ${name}`);

/**
 * 404 for an unknown name, 409 for an internal consumer: its types and limits are set by the code
 * that runs it (createEventConsumer), and it has no URL, headers or secret to change.
 */
async function webhookOnly(ctx: AdminContext, name: string): Promise<void> {
  const row = await store.getSubscriberRow(ctx.db, name);
  if (!row) throw notFound(name);
  if (row.kind !== "webhook") {
    throw new errors.Conflict(`${name} is an internal consumer: it is configured by the code that runs it`);
  }
}

function view(
  row: store.SubscriberRow,
  group: GroupInfo | undefined | null,
  outcome: OutcomeStats | undefined,
): Subscriber {
  const now = Date.now();
  const previous = row.previousSecrets
    .map((p) => Date.parse(p.expires_at))
    .filter((at) => at > now)
    .sort((a, b) => a - b)
    .map((at) => new Date(at).toISOString());
  return {
    name: row.name,
    kind: row.kind,
    url: row.url,
    event_types: row.eventTypes,
    description: row.description,
    enabled: row.enabled,
    max_attempts: row.maxAttempts,
    timeout_ms: row.timeoutMs,
    max_in_flight: row.maxInFlight,
    ordering: row.ordering,
    headers: row.headers,
    previous_secret_expires_at: previous.at(-1) ?? null,
    previous_secrets_expire_at: previous,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    stats: {
      // null group info: RedisClient unreachable; undefined: the group is missing (the dispatcher recreates it).
      pending: group === null ? null : (group?.pending ?? 0),
      lag: group?.lag ?? null,
      delivered: outcome?.delivered ?? 0,
      dead_lettered: outcome?.deadLettered ?? 0,
      last_delivery_at: outcome?.lastDeliveryAt?.toISOString() ?? null,
    },
  };
}

/** XINFO GROUPS once; null when Redis is unreachable, so reads still answer with what Postgres knows. */
async function liveGroups(ctx: AdminContext): Promise<Map<string, GroupInfo> | null> {
  return partitionedGroupInfos(ctx.redis, ctx.keys).catch(() => null);
}

/**
 * Creates the row and the consumer group together: the group is created inside the row's
 * transaction, so a Redis failure rolls the row back (503) and a duplicate name is a 409.
 * Returns the subscriber with its plain secret, which is shown only here and on rotation.
 */
export async function createSubscriber(
  ctx: AdminContext,
  body: CreateSubscriber,
): Promise<Subscriber & { secret: string }> {
  checkHeaders(body.headers);
  checkTimeout(body.timeout_ms, ctx.config.claimIdleMs);
  checkSecret(body.secret);
  await checkUrl(body.url, ctx.config.webhookAllowPrivate);
  const secret = body.secret ?? generateSecret();
  const start = startId(body.start_from ?? "latest");
  const row = await inTransaction(ctx.db, async (tx) => {
    const created = await sensitiveWrite("storing a subscriber", () =>
      store.insertSubscriber(tx, {
        name: body.name,
        url: body.url,
        eventTypes: body.event_types,
        description: body.description ?? null,
        secret: sealSecret(secret, ctx.config.secretKey, body.name),
        enabled: body.enabled ?? true,
        maxAttempts: body.max_attempts ?? 8,
        timeoutMs: body.timeout_ms ?? ctx.config.webhookTimeoutMs,
        maxInFlight: body.max_in_flight ?? 32,
        ordering: body.ordering ?? "none",
        headers: body.headers ?? {},
      }),
    );
    if (!created) throw new errors.Conflict(`a subscriber named ${body.name} already exists`);
    await onRedis(() => createGroups(ctx.redis, ctx.keys, body.name, start));
    return created;
  });
  await notify(ctx, row.name);
  const groups = await liveGroups(ctx);
  return { ...view(row, groups && groups.get(row.name), undefined), secret };
}

/** Every subscriber with live stats: one XINFO GROUPS call and one grouped query in all. */
export async function listSubscribers(ctx: AdminContext): Promise<Subscriber[]> {
  const [rows, groups, outcomes] = await Promise.all([
    store.listSubscriberRows(ctx.db),
    liveGroups(ctx),
    outcomeStats(ctx.db),
  ]);
  return rows.map((row) => view(row, groups && groups.get(row.name), outcomes.get(row.name)));
}

/** One subscriber with live stats; 404 when unknown. */
export async function getSubscriber(ctx: AdminContext, name: string): Promise<Subscriber> {
  const [row, groups, outcomes] = await Promise.all([
    store.getSubscriberRow(ctx.db, name),
    liveGroups(ctx),
    outcomeStats(ctx.db, name),
  ]);
  if (!row) throw notFound(name);
  return view(row, groups && groups.get(name), outcomes.get(name));
}

/** Changes the given fields under the same rules as create; 404 when unknown. */
export async function updateSubscriber(ctx: AdminContext, name: string, patch: UpdateSubscriber): Promise<Subscriber> {
  checkHeaders(patch.headers);
  checkTimeout(patch.timeout_ms, ctx.config.claimIdleMs);
  await checkUrl(patch.url, ctx.config.webhookAllowPrivate);
  await webhookOnly(ctx, name);
  const row = await sensitiveWrite("changing a subscriber", () =>
    store.updateSubscriberRow(ctx.db, name, {
      url: patch.url,
      eventTypes: patch.event_types,
      enabled: patch.enabled,
      description: patch.description,
      maxAttempts: patch.max_attempts,
      timeoutMs: patch.timeout_ms,
      maxInFlight: patch.max_in_flight,
      ordering: patch.ordering,
      headers: patch.headers,
    }),
  );
  if (!row) throw notFound(name);
  await notify(ctx, name);
  return getSubscriber(ctx, name);
}

/**
 * Deletes the row (its dedup rows, dead letters and attempts cascade) and destroys the group in
 * the same transaction: if Redis is down the row stays (503), so no orphan group keeps holding
 * back stream trimming.
 */
export async function deleteSubscriber(ctx: AdminContext, name: string): Promise<void> {
  await inTransaction(ctx.db, async (tx) => {
    if (!(await store.deleteSubscriberRow(tx, name))) throw notFound(name);
    await onRedis(() => destroyGroups(ctx.redis, ctx.keys, name));
  });
  await notify(ctx, name);
}

/**
 * A new secret; the current one keeps signing alongside for 24 h, as does each one rotated out
 * before it until its own 24 h end. 409 while MAX_PREVIOUS_SECRETS of them still sign.
 */
export async function rotateSecret(
  ctx: AdminContext,
  name: string,
  now = new Date(),
): Promise<{ secret: string; previous_secret_expires_at: string }> {
  await webhookOnly(ctx, name);
  const secret = generateSecret();
  const expiresAt = new Date(now.getTime() + PREVIOUS_SECRET_TTL_MS);
  const sealed = sealSecret(secret, ctx.config.secretKey, name);
  const outcome = await sensitiveWrite("rotating a subscriber secret", () =>
    store.rotateSecretRow(ctx.db, name, sealed, now, expiresAt, MAX_PREVIOUS_SECRETS),
  );
  if (outcome === "missing") throw notFound(name);
  if (outcome === "full") {
    throw new errors.Conflict(
      `subscriber ${name} already has ${MAX_PREVIOUS_SECRETS} rotated-out secrets still signing; end their overlap ` +
        `with DELETE /v1/subscribers/${name}/previous-secrets first`,
    );
  }
  await notify(ctx, name);
  return { secret, previous_secret_expires_at: expiresAt.toISOString() };
}

/** Ends the overlap early: from now on only the current secret signs. 404 when unknown. */
export async function endSecretOverlap(ctx: AdminContext, name: string): Promise<void> {
  await webhookOnly(ctx, name);
  if (!(await sensitiveWrite("ending a secret overlap", () => store.clearPreviousSecrets(ctx.db, name))))
    throw notFound(name);
  await notify(ctx, name);
}
