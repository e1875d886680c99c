/**
 * The `subscribers` table. Secrets are stored sealed (delivery/secrets.ts seals and opens them);
 * these functions move the stored values as they are.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Executor } from "./client.js";
import { deliveryAttempts, subscribers, type PreviousSecret } from "./schema.js";

export type { PreviousSecret };

export type SubscriberRow = typeof subscribers.$inferSelect;
export type NewSubscriberRow = typeof subscribers.$inferInsert;
/** A webhook's row: the check constraint `subscribers_webhook_has_url_and_secret` guarantees both. */
export type WebhookRow = SubscriberRow & { kind: "webhook"; url: string; secret: string };

const isWebhook = (row: SubscriberRow): row is WebhookRow => row.kind === "webhook";

/** Inserts a row; returns null when the name is taken. */
export async function insertSubscriber(db: Executor, row: NewSubscriberRow): Promise<SubscriberRow | null> {
  const [created] = await db
    .insert(subscribers)
    .values(row)
    .onConflictDoNothing({ target: subscribers.name })
    .returning();
  return created ?? null;
}

/** All rows, by name. */
export async function listSubscriberRows(db: Executor): Promise<SubscriberRow[]> {
  return db.select().from(subscribers).orderBy(subscribers.name);
}

/** The webhook rows only, by name: what the dispatchers deliver to. */
export async function listWebhookRows(db: Executor): Promise<WebhookRow[]> {
  const rows = await db.select().from(subscribers).where(eq(subscribers.kind, "webhook")).orderBy(subscribers.name);
  return rows.filter(isWebhook);
}

/** One webhook row, or null (also for an internal consumer of that name). */
export async function getWebhookRow(db: Executor, name: string): Promise<WebhookRow | null> {
  const row = await getSubscriberRow(db, name);
  return row !== null && isWebhook(row) ? row : null;
}

/**
 * Registers an internal consumer, or updates the event types of the one already registered:
 * `created` when this call inserted the row (the caller then creates the group, in the same
 * transaction), `updated` when it existed, `taken` when a webhook has the name. Concurrent
 * calls from several processes serialize on the row, so exactly one of them sees `created`.
 */
export async function registerInternalRow(
  db: Executor,
  name: string,
  eventTypes: string[],
  description: string | null,
): Promise<"created" | "updated" | "taken"> {
  const [row] = await db
    .insert(subscribers)
    .values({ name, kind: "internal", eventTypes, description })
    .onConflictDoUpdate({
      target: subscribers.name,
      set: { eventTypes, description, updatedAt: new Date() },
      setWhere: eq(subscribers.kind, "internal"),
    })
    // xmax is 0 only on a row version this statement inserted.
    .returning({ inserted: sql<boolean>`(xmax = 0)` });
  if (row === undefined) return "taken";
  return row.inserted ? "created" : "updated";
}

/** One row, or null. */
export async function getSubscriberRow(db: Executor, name: string): Promise<SubscriberRow | null> {
  const [row] = await db.select().from(subscribers).where(eq(subscribers.name, name));
  return row ?? null;
}

/** The event types each named subscriber wants; names without a row are absent. */
export async function eventTypesOf(db: Executor, names: string[]): Promise<Map<string, string[]>> {
  const rows = await db
    .select({ name: subscribers.name, eventTypes: subscribers.eventTypes })
    .from(subscribers)
    .where(inArray(subscribers.name, names));
  return new Map(rows.map((r) => [r.name, r.eventTypes]));
}

/** Applies a partial change; returns the updated row, or null when it does not exist. */
export async function updateSubscriberRow(
  db: Executor,
  name: string,
  change: Partial<NewSubscriberRow>,
): Promise<SubscriberRow | null> {
  const [row] = await db
    .update(subscribers)
    .set({ ...change, updatedAt: new Date() })
    .where(eq(subscribers.name, name))
    .returning();
  return row ?? null;
}

/** Sets enabled=false (used when a webhook answers 410 Gone). */
export async function disableSubscriber(db: Executor, name: string): Promise<void> {
  await db.update(subscribers).set({ enabled: false, updatedAt: new Date() }).where(eq(subscribers.name, name));
}

/**
 * Whether a vanished consumer group should be recreated (for either kind). DELETE destroys the group inside the
 * transaction that deletes the row; FOR SHARE waits for that transaction, so a group destroyed
 * by a deletion is never brought back by a consumer that saw NOGROUP before the commit.
 */
export async function isSubscriberEnabled(db: Executor, name: string): Promise<boolean> {
  const [row] = await db
    .select({ enabled: subscribers.enabled })
    .from(subscribers)
    .where(eq(subscribers.name, name))
    .for("share");
  return row?.enabled === true;
}

/** Deletes a row, its delivery log and (by FK cascade) its dedup rows and dead letters; false when absent. */
export async function deleteSubscriberRow(db: Executor, name: string): Promise<boolean> {
  // The delivery log has no foreign key to cascade along (schema.ts).
  await db.delete(deliveryAttempts).where(eq(deliveryAttempts.subscriberName, name));
  const deleted = await db.delete(subscribers).where(eq(subscribers.name, name)).returning({ name: subscribers.name });
  return deleted.length > 0;
}

/**
 * Replaces the secret with `sealedNew` and appends the current one to the previous secrets until
 * `expiresAt`, dropping those expired at `now`; in one statement, so two concurrent rotations
 * cannot lose a secret that signs. Refused (`full`) while `maxPrevious` previous secrets are still
 * valid: each one adds a signature to every delivery's header.
 */
export async function rotateSecretRow(
  db: Executor,
  name: string,
  sealedNew: string,
  now: Date,
  expiresAt: Date,
  maxPrevious: number,
): Promise<"rotated" | "full" | "missing"> {
  const valid = sql`(select coalesce(jsonb_agg(p order by p->>'expires_at'), '[]'::jsonb)
    from jsonb_array_elements(${subscribers.previousSecrets}) p
    where (p->>'expires_at')::timestamptz > ${now.toISOString()}::timestamptz)`;
  const rows = await db
    .update(subscribers)
    .set({
      previousSecrets: sql`${valid} || jsonb_build_array(jsonb_build_object(
        'secret', ${subscribers.secret}, 'expires_at', ${expiresAt.toISOString()}::text))`,
      secret: sealedNew,
      updatedAt: now,
    })
    .where(and(eq(subscribers.name, name), sql`jsonb_array_length(${valid}) < ${maxPrevious}`))
    .returning({ name: subscribers.name });
  if (rows.length > 0) return "rotated";
  return (await getSubscriberRow(db, name)) === null ? "missing" : "full";
}

/** Ends the overlap of every rotated-out secret at once; false when the row does not exist. */
export async function clearPreviousSecrets(db: Executor, name: string): Promise<boolean> {
  const rows = await db
    .update(subscribers)
    .set({ previousSecrets: [], updatedAt: new Date() })
    .where(eq(subscribers.name, name))
    .returning({ name: subscribers.name });
  return rows.length > 0;
}
