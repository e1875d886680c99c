/**
 * Webhook signing secrets: generation, validation, and encryption at rest.
 *
 * A secret is `whsec_<base64 of N random bytes>` (Standard Webhooks; docs/CONTRACT.md §4 allows N = 24–64).
 * When BRAIN_SECRET_KEY is set, the subscribers table stores `enc:v2:<iv>:<tag>:<ciphertext>`
 * (base64url parts): AES-256-GCM under a key derived from BRAIN_SECRET_KEY with HKDF-SHA256, so
 * a database dump alone does not let anyone forge signatures. The subscriber's name is the
 * additional authenticated data: someone who can write the table cannot copy a sealed secret onto
 * another subscriber (v1, written before, had no AAD and still opens). Without the key, secrets are
 * stored as they are. Secrets must never reach a log line: callers keep them out of log objects.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const PREFIX = "whsec_";
/** How long a rotated-out secret keeps signing (docs/CONTRACT.md §3). */
export const PREVIOUS_SECRET_TTL_MS = 24 * 60 * 60 * 1000;
const V1 = "enc:v1:";
const V2 = "enc:v2:";
const IV_BYTES = 12;
/** GCM tags can be cut short; a short tag would make forgeries cheaper, so only full ones open. */
const TAG_BYTES = 16;
const SECRET_BYTES = 32;
const MIN_BYTES = 24;
const MAX_BYTES = 64;
/** Fixed HKDF salt and info: they bind the derived key to this one use of BRAIN_SECRET_KEY. */
const HKDF_SALT = "brain-event-gateway";
const HKDF_INFO = "subscriber-secret:v1";

/** A fresh `whsec_` secret of 32 random bytes. */
export function generateSecret(): string {
  return PREFIX + randomBytes(SECRET_BYTES).toString("base64");
}

/** True when `secret` is `whsec_` followed by canonical base64 of 24–64 bytes. */
export function isValidSecret(secret: string): boolean {
  if (!secret.startsWith(PREFIX)) return false;
  const b64 = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return false;
  const bytes = Buffer.from(b64, "base64");
  // Re-encoding catches non-canonical padding bits that Buffer would silently drop.
  return bytes.length >= MIN_BYTES && bytes.length <= MAX_BYTES && bytes.toString("base64") === b64;
}

// The derived key is cached per BRAIN_SECRET_KEY value: HKDF per row would be wasted work.
const derived = new Map<string, Buffer>();
function aesKey(secretKey: string): Buffer {
  let key = derived.get(secretKey);
  if (!key) {
    key = Buffer.from(hkdfSync("sha256", secretKey, HKDF_SALT, HKDF_INFO, 32));
    derived.set(secretKey, key);
  }
  return key;
}

/** What a v2 value is bound to; the prefix keeps the AAD from meaning anything in another use of the key. */
function aad(subscriber: string): Buffer {
  return Buffer.from(`brain-event-gateway:subscriber:${subscriber}`, "utf8");
}

/**
 * The value to store for `subscriber`'s `secret`: sealed (v2, bound to the subscriber's name)
 * when a key is configured, the secret itself otherwise.
 */
export function sealSecret(secret: string, secretKey: string | null, subscriber: string): string {
  if (secretKey === null) return secret;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", aesKey(secretKey), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(subscriber));
  const ciphertext = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
  const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString("base64url"));
  return V2 + parts.join(":");
}

/** True when a stored value is encrypted. */
export function isSealed(stored: string): boolean {
  return stored.startsWith(V1) || stored.startsWith(V2);
}

/**
 * The plain secret of `subscriber`'s stored value. A plain stored value (written before a key was
 * configured) is returned as is, so turning encryption on needs no migration; an encrypted value
 * without the key, with the wrong key, sealed for another subscriber, or tampered with throws an
 * error that says so (never the value itself).
 */
export function openSecret(stored: string, secretKey: string | null, subscriber: string): string {
  if (!isSealed(stored)) return stored;
  if (secretKey === null) {
    throw new Error(
      "a subscriber secret is encrypted at rest but BRAIN_SECRET_KEY is not set: set it to the key it was sealed with",
    );
  }
  const v2 = stored.startsWith(V2);
  // v1 and v2 differ only in the AAD: same prefix length, same parts.
  const [iv, tag, ciphertext, extra] = stored
    .slice(V1.length)
    .split(":")
    .map((p) => Buffer.from(p, "base64url"));
  if (iv?.length !== IV_BYTES || tag?.length !== TAG_BYTES || ciphertext === undefined || extra !== undefined)
    throw new Error("a stored subscriber secret is malformed");
  try {
    const decipher = createDecipheriv("aes-256-gcm", aesKey(secretKey), iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    if (v2) decipher.setAAD(aad(subscriber));
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
  } catch {
    throw new Error(
      "a subscriber secret cannot be decrypted: BRAIN_SECRET_KEY differs from the key it was sealed with, or the " +
        "value was sealed for another subscriber or altered",
    );
  }
}
