/**
 * Standard Webhooks signing (docs/CONTRACT.md §4): `webhook-signature` is `v1,<base64 HMAC-SHA256>` of
 * `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the base64-decoded part of a `whsec_`
 * secret. While a rotated-out secret is still valid, both signatures are sent, space-separated,
 * so receivers holding either secret accept the delivery.
 */
import { createHmac, createSecretKey, type KeyObject } from "node:crypto";

const PREFIX = "whsec_";

/** Decoded keys by secret: signing runs for every attempt, and secrets change only on rotation. */
const keys = new Map<string, KeyObject>();
const MAX_KEYS = 10_000;

/** The HMAC key of a `whsec_<base64>` secret (a secret without the prefix is taken as base64 too). */
function hmacKey(secret: string): KeyObject {
  let key = keys.get(secret);
  if (key === undefined) {
    // Rotations add keys for the life of the process; dropping them all now and then bounds that.
    if (keys.size >= MAX_KEYS) keys.clear();
    key = createSecretKey(Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, "base64"));
    keys.set(secret, key);
  }
  return key;
}

/** One `v1,<base64>` signature of a message. */
export function sign(secret: string, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac("sha256", hmacKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest("base64")}`;
}

/** The Standard Webhooks headers of one attempt; the timestamp is taken afresh for each attempt. */
export function signatureHeaders(
  secrets: string[],
  id: string,
  body: string,
  now = Date.now(),
): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": secrets.map((s) => sign(s, id, timestamp, body)).join(" "),
  };
}
