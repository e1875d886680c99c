/**
 * What delivery needs of a subscriber: its row with the signing secrets opened. Secrets are
 * opened only here, where they sign; rows handed to the API never carry them.
 */
import type { Db, Executor } from "../db/client.js";
import { getWebhookRow, listWebhookRows, type WebhookRow } from "../db/subscribers.js";
import { openSecret } from "./secrets.js";

/** What the dispatcher needs to deliver to one subscriber. */
export interface SubscriberConfig {
  name: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  maxAttempts: number;
  timeoutMs: number;
  maxInFlight: number;
  ordering: "none" | "key";
  headers: Record<string, string>;
  /** Plain-text `whsec_` secrets that sign each delivery: current first, then rotated-out ones still valid. */
  signingSecrets: string[];
}

/** A row whose secrets cannot be opened; `reason` never carries a secret. */
export interface UnreadableSubscriber {
  name: string;
  reason: string;
}

/**
 * The secrets that sign at `now`: the current one, then each rotated-out one until its own
 * expiry, most recently rotated out first. Throws when any of them cannot be opened: signing
 * with fewer secrets than the receiver may hold would fail deliveries silently.
 */
export function signingSecrets(row: WebhookRow, secretKey: string | null, now = new Date()): string[] {
  const previous = row.previousSecrets
    .filter((p) => Date.parse(p.expires_at) > now.getTime())
    .sort((a, b) => Date.parse(b.expires_at) - Date.parse(a.expires_at));
  return [row.secret, ...previous.map((p) => p.secret)].map((s) => openSecret(s, secretKey, row.name));
}

function toConfig(row: WebhookRow, secretKey: string | null, now: Date): SubscriberConfig {
  return {
    name: row.name,
    url: row.url,
    eventTypes: row.eventTypes,
    enabled: row.enabled,
    maxAttempts: row.maxAttempts,
    timeoutMs: row.timeoutMs,
    maxInFlight: row.maxInFlight,
    ordering: row.ordering,
    headers: row.headers,
    signingSecrets: signingSecrets(row, secretKey, now),
  };
}

/**
 * Every webhook subscriber (enabled or not) with opened signing secrets; internal consumers run
 * in their applications, never here. A row whose secrets cannot be
 * opened (wrong BRAIN_SECRET_KEY, a value copied from another row, tampering) is left out and
 * reported to `onUnreadable`: it pauses that subscriber only, instead of every one.
 */
export async function loadSubscribers(
  db: Db,
  secretKey: string | null,
  onUnreadable: (unreadable: UnreadableSubscriber[]) => void = () => {},
): Promise<SubscriberConfig[]> {
  const now = new Date();
  const loaded: SubscriberConfig[] = [];
  const unreadable: UnreadableSubscriber[] = [];
  for (const row of await listWebhookRows(db)) {
    try {
      loaded.push(toConfig(row, secretKey, now));
    } catch (err) {
      unreadable.push({ name: row.name, reason: (err as Error).message });
    }
  }
  onUnreadable(unreadable);
  return loaded;
}

/**
 * One webhook subscriber with opened signing secrets, or null (also for an internal consumer);
 * throws when its secrets cannot be opened.
 */
export async function loadSubscriber(
  db: Executor,
  name: string,
  secretKey: string | null,
): Promise<SubscriberConfig | null> {
  const row = await getWebhookRow(db, name);
  return row === null ? null : toConfig(row, secretKey, new Date());
}
