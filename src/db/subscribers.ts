/**
 * Data access for subscribers: plain functions over the Drizzle database, used by the HTTP
 * routes and by the dispatcher. Secrets are sealed on write and opened only where they sign
 * (`loadSubscribers`); rows handed to the API never carry them.
 */
import { and, desc, eq, sql } from "drizzle-orm";
import type { Db } from "../plugins/db.js";
import { openSecret } from "../delivery/secrets.js";
import { deadLetters, deliveryAttempts, processedEvents, subscribers } from "./schema.js";

export type SubscriberRow = typeof subscribers.$inferSelect;
/** The database or a transaction on it. */
export type Executor = Pick<Db, "select" | "insert" | "update" | "delete">;
export type NewSubscriberRow = typeof subscribers.$inferInsert;

/** What the dispatcher needs to deliver to one subscriber. */
export interface SubscriberConfig {
  name: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  maxAttempts: number;
  timeoutMs: number;
  maxInFlight: number;
  headers: Record<string, string>;
  /** Plain-text `whsec_` secrets that sign each delivery: current first, then the pre-rotation one while valid. */
  signingSecrets: string[];
}

/** How long a rotated-out secret keeps signing (SPEC §3). */
export const PREVIOUS_SECRET_TTL_MS = 24 * 60 * 60 * 1000;

/** The secrets that sign at `now`: the current one, then the previous one until it expires. */
export function signingSecrets(row: SubscriberRow, secretKey: string | null, now = new Date()): string[] {
  const secrets = [openSecret(row.secret, secretKey)];
  if (row.previousSecret !== null && row.previousSecretExpiresAt !== null && row.previousSecretExpiresAt > now) {
    secrets.push(openSecret(row.previousSecret, secretKey));
  }
  return secrets;
}

/** Every subscriber (enabled or not) with decrypted signing secrets. */
export async function loadSubscribers(db: Db, secretKey: string | null): Promise<SubscriberConfig[]> {
  const rows = await db.select().from(subscribers).orderBy(subscribers.name);
  const now = new Date();
  return rows.map((row) => ({
    name: row.name,
    url: row.url,
    eventTypes: row.eventTypes,
    enabled: row.enabled,
    maxAttempts: row.maxAttempts,
    timeoutMs: row.timeoutMs,
    maxInFlight: row.maxInFlight,
    headers: row.headers,
    signingSecrets: signingSecrets(row, secretKey, now),
  }));
}

/** Sets enabled=false (used when a webhook answers 410 Gone). */
export async function disableSubscriber(db: Db, name: string): Promise<void> {
  await db.update(subscribers).set({ enabled: false, updatedAt: new Date() }).where(eq(subscribers.name, name));
}

/** Inserts a row; returns null when the name is taken. */
export async function insertSubscriber(db: Executor, row: NewSubscriberRow): Promise<SubscriberRow | null> {
  const [created] = await db.insert(subscribers).values(row).onConflictDoNothing({ target: subscribers.name }).returning();
  return created ?? null;
}

/** All rows, by name. */
export async function listSubscriberRows(db: Executor): Promise<SubscriberRow[]> {
  return db.select().from(subscribers).orderBy(subscribers.name);
}

/** One row, or null. */
export async function getSubscriberRow(db: Executor, name: string): Promise<SubscriberRow | null> {
  const [row] = await db.select().from(subscribers).where(eq(subscribers.name, name));
  return row ?? null;
}

/** Applies a partial change; returns the updated row, or null when it does not exist. */
export async function updateSubscriberRow(db: Executor, name: string, change: Partial<NewSubscriberRow>): Promise<SubscriberRow | null> {
  const [row] = await db
    .update(subscribers)
    .set({ ...change, updatedAt: new Date() })
    .where(eq(subscribers.name, name))
    .returning();
  return row ?? null;
}

/** Deletes a row, its delivery log and (by FK cascade) its dedup rows and dead letters; false when absent. */
export async function deleteSubscriberRow(db: Executor, name: string): Promise<boolean> {
  // The delivery log has no foreign key to cascade along (schema.ts).
  await db.delete(deliveryAttempts).where(eq(deliveryAttempts.subscriberName, name));
  const deleted = await db.delete(subscribers).where(eq(subscribers.name, name)).returning({ name: subscribers.name });
  return deleted.length > 0;
}

/**
 * Replaces the secret with `sealedNew` and keeps the current one as the previous secret until
 * `expiresAt`, in one statement so two concurrent rotations cannot lose a secret that signs.
 */
export async function rotateSecretRow(db: Executor, name: string, sealedNew: string, expiresAt: Date): Promise<boolean> {
  const rows = await db
    .update(subscribers)
    .set({ previousSecret: sql`${subscribers.secret}`, previousSecretExpiresAt: expiresAt, secret: sealedNew, updatedAt: new Date() })
    .where(eq(subscribers.name, name))
    .returning({ name: subscribers.name });
  return rows.length > 0;
}

/** Dedup-table counters of one subscriber. */
export interface OutcomeStats {
  delivered: number;
  deadLettered: number;
  lastDeliveryAt: Date | null;
}

/** Counters for every subscriber (or the one named), from one grouped query. */
export async function outcomeStats(db: Executor, name?: string): Promise<Map<string, OutcomeStats>> {
  const rows = await db
    .select({
      name: processedEvents.subscriberName,
      delivered: sql<number>`count(*) filter (where ${processedEvents.outcome} = 'delivered')::int`,
      deadLettered: sql<number>`count(*) filter (where ${processedEvents.outcome} = 'dead_lettered')::int`,
      lastDeliveryAt: sql<string | null>`max(${processedEvents.processedAt}) filter (where ${processedEvents.outcome} = 'delivered')`,
    })
    .from(processedEvents)
    .where(name === undefined ? undefined : eq(processedEvents.subscriberName, name))
    .groupBy(processedEvents.subscriberName);
  return new Map(
    rows.map((r) => [
      r.name,
      { delivered: r.delivered, deadLettered: r.deadLettered, lastDeliveryAt: r.lastDeliveryAt === null ? null : new Date(r.lastDeliveryAt) },
    ]),
  );
}

/** The newest delivery attempts of a subscriber. */
export async function recentDeliveries(db: Executor, name: string, limit: number) {
  return db
    .select()
    .from(deliveryAttempts)
    .where(eq(deliveryAttempts.subscriberName, name))
    .orderBy(desc(deliveryAttempts.at), desc(deliveryAttempts.id))
    .limit(limit);
}

/** The newest dead letters of a subscriber, optionally only the unresolved ones. */
export async function recentDeadLetters(db: Executor, name: string, limit: number, unresolvedOnly = false) {
  const where = unresolvedOnly
    ? and(eq(deadLetters.subscriberName, name), sql`${deadLetters.resolvedAt} is null`)
    : eq(deadLetters.subscriberName, name);
  return db.select().from(deadLetters).where(where).orderBy(desc(deadLetters.failedAt), desc(deadLetters.id)).limit(limit);
}
