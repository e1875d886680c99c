/**
 * What delivery needs of a subscriber: its row with the signing secrets opened. Secrets are
 * opened only here, where they sign; rows handed to the API never carry them.
 */
import type { Db, Executor } from "../db/client.js";
import { getSubscriberRow, listSubscriberRows, type SubscriberRow } from "../db/subscribers.js";
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
  headers: Record<string, string>;
  /** Plain-text `whsec_` secrets that sign each delivery: current first, then rotated-out ones still valid. */
  signingSecrets: string[];
}

/**
 * The secrets that sign at `now`: the current one, then each rotated-out one until its own
 * expiry, most recently rotated out first.
 */
export function signingSecrets(row: SubscriberRow, secretKey: string | null, now = new Date()): string[] {
  const previous = row.previousSecrets
    .filter((p) => Date.parse(p.expires_at) > now.getTime())
    .sort((a, b) => Date.parse(b.expires_at) - Date.parse(a.expires_at));
  return [row.secret, ...previous.map((p) => p.secret)].map((s) => openSecret(s, secretKey));
}

function toConfig(row: SubscriberRow, secretKey: string | null, now: Date): SubscriberConfig {
  return {
    name: row.name,
    url: row.url,
    eventTypes: row.eventTypes,
    enabled: row.enabled,
    maxAttempts: row.maxAttempts,
    timeoutMs: row.timeoutMs,
    maxInFlight: row.maxInFlight,
    headers: row.headers,
    signingSecrets: signingSecrets(row, secretKey, now),
  };
}

/** Every subscriber (enabled or not) with opened signing secrets. */
export async function loadSubscribers(db: Db, secretKey: string | null): Promise<SubscriberConfig[]> {
  const now = new Date();
  return (await listSubscriberRows(db)).map((row) => toConfig(row, secretKey, now));
}

/** One subscriber with opened signing secrets, or null. */
export async function loadSubscriber(
  db: Executor,
  name: string,
  secretKey: string | null,
): Promise<SubscriberConfig | null> {
  const row = await getSubscriberRow(db, name);
  return row === null ? null : toConfig(row, secretKey, new Date());
}
