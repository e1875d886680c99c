import { createCipheriv, hkdfSync, randomBytes } from "node:crypto";
import t from "tap";
import { Webhook } from "standardwebhooks";
import { generateSecret, isSealed, isValidSecret, openSecret, sealSecret } from "../src/delivery/secrets.js";
import { signatureHeaders } from "../src/delivery/signature.js";

const KEY = "k".repeat(32) + "-test-secret-key";

t.test("a generated secret is whsec_ with 32 random bytes and verifies with a Standard Webhooks library", async (t) => {
  const secret = generateSecret();
  t.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  t.equal(Buffer.from(secret.slice(6), "base64").length, 32);
  t.not(generateSecret(), secret, "each secret is new");
  t.ok(isValidSecret(secret));
  const body = '{"type":"mission.created"}';
  const headers = signatureHeaders([secret], "1-0", body);
  t.doesNotThrow(() => new Webhook(secret).verify(body, headers));
});

t.test("a user-provided secret must be whsec_ with canonical base64 of 24 to 64 bytes", async (t) => {
  const of = (n: number) => "whsec_" + Buffer.alloc(n, 7).toString("base64");
  t.ok(isValidSecret(of(24)));
  t.ok(isValidSecret(of(64)));
  t.notOk(isValidSecret(of(23)), "too short");
  t.notOk(isValidSecret(of(65)), "too long");
  t.notOk(isValidSecret(Buffer.alloc(32).toString("base64")), "no prefix");
  t.notOk(isValidSecret("whsec_not base64 at all!!!!!!!!!!!!!!!!!"), "not base64");
  t.notOk(isValidSecret(of(32).slice(0, -1)), "bad padding");
});

t.test("without a key the secret is stored as is", async (t) => {
  const secret = generateSecret();
  t.equal(sealSecret(secret, null, "a"), secret);
  t.equal(openSecret(secret, null, "a"), secret);
});

t.test("with a key the stored value is AES-GCM ciphertext (v2) that opens to the secret", async (t) => {
  const secret = generateSecret();
  const sealed = sealSecret(secret, KEY, "billing");
  t.match(sealed, /^enc:v2:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$/, "12-byte IV, 16-byte tag");
  t.ok(isSealed(sealed));
  t.notMatch(sealed, secret.slice(6, 20), "the stored value does not contain the secret");
  t.not(sealSecret(secret, KEY, "billing"), sealed, "a fresh IV each time");
  t.equal(openSecret(sealed, KEY, "billing"), secret);
  t.equal(openSecret(secret, KEY, "billing"), secret, "a value stored before the key was set still opens");
});

/** An `enc:v1:` value as the gateway wrote it before v2: same key derivation, no AAD. */
function sealV1(secret: string, key: string): string {
  const aes = Buffer.from(hkdfSync("sha256", key, "brain-event-gateway", "subscriber-secret:v1", 32));
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", aes, iv);
  const ciphertext = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
  return `enc:v1:${[iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString("base64url")).join(":")}`;
}

t.test("values sealed before v2 (enc:v1:) still open, for any subscriber", async (t) => {
  const secret = generateSecret();
  const v1 = sealV1(secret, KEY);
  t.ok(isSealed(v1));
  t.equal(openSecret(v1, KEY, "billing"), secret);
  t.throws(() => openSecret(v1, "another-key-of-at-least-32-characters", "billing"), /cannot be decrypted/);
});

t.test("a v2 value is bound to its subscriber: copied onto another subscriber's row it does not open", async (t) => {
  const secret = generateSecret();
  const sealed = sealSecret(secret, KEY, "billing");
  t.throws(() => openSecret(sealed, KEY, "billing2"), /sealed for another subscriber/);
  t.throws(() => openSecret(sealed, KEY, "Billing"), /cannot be decrypted/);
  t.equal(openSecret(sealed, KEY, "billing"), secret, "its own subscriber still opens it");
});

t.test("a truncated authentication tag never opens, whatever its length", async (t) => {
  const secret = generateSecret();
  for (const sealed of [sealSecret(secret, KEY, "billing"), sealV1(secret, KEY)]) {
    const parts = sealed.split(":");
    const tag = Buffer.from(parts[3]!, "base64url");
    for (const length of [4, 8, 12, 15]) {
      parts[3] = tag.subarray(0, length).toString("base64url");
      t.throws(
        () => openSecret(parts.join(":"), KEY, "billing"),
        /malformed/,
        `${sealed.slice(0, 6)} tag of ${length}`,
      );
    }
  }
});

t.test("an encrypted secret without the key, with another key, or tampered with fails clearly", async (t) => {
  const secret = generateSecret();
  const sealed = sealSecret(secret, KEY, "billing");
  t.throws(() => openSecret(sealed, null, "billing"), /BRAIN_SECRET_KEY is not set/);
  t.throws(() => openSecret(sealed, "another-key-of-at-least-32-characters", "billing"), /BRAIN_SECRET_KEY differs/);
  const parts = sealed.split(":");
  parts[4] = Buffer.from("x".repeat(20)).toString("base64url");
  t.throws(() => openSecret(parts.join(":"), KEY, "billing"), /cannot be decrypted/);
  t.throws(() => openSecret("enc:v1:abc", KEY, "billing"), /malformed/);
  t.throws(() => openSecret(`${sealed}:extra`, KEY, "billing"), /malformed/);
  for (const key of [null, "another-key-of-at-least-32-characters"]) {
    try {
      openSecret(sealed, key, "billing");
      t.fail("it must not open");
    } catch (err) {
      t.notMatch((err as Error).message, secret.slice(6), "the error never carries the secret");
    }
  }
});
