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
  t.equal(sealSecret(secret, null), secret);
  t.equal(openSecret(secret, null), secret);
});

t.test("with a key the stored value is AES-GCM ciphertext that opens to the secret", async (t) => {
  const secret = generateSecret();
  const sealed = sealSecret(secret, KEY);
  t.match(sealed, /^enc:v1:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$/);
  t.ok(isSealed(sealed));
  t.notMatch(sealed, secret.slice(6, 20), "the stored value does not contain the secret");
  t.not(sealSecret(secret, KEY), sealed, "a fresh IV each time");
  t.equal(openSecret(sealed, KEY), secret);
  t.equal(openSecret(secret, KEY), secret, "a value stored before the key was set still opens");
});

t.test("an encrypted secret without the key, with another key, or tampered with fails clearly", async (t) => {
  const secret = generateSecret();
  const sealed = sealSecret(secret, KEY);
  t.throws(() => openSecret(sealed, null), /BRAIN_SECRET_KEY is not set/);
  t.throws(() => openSecret(sealed, "another-key-of-at-least-32-characters"), /BRAIN_SECRET_KEY differs/);
  const parts = sealed.split(":");
  parts[4] = Buffer.from("x".repeat(20)).toString("base64url");
  t.throws(() => openSecret(parts.join(":"), KEY), /cannot be decrypted/);
  t.throws(() => openSecret("enc:v1:abc", KEY), /malformed/);
  try {
    openSecret(sealed, null);
  } catch (err) {
    t.notMatch((err as Error).message, secret, "the error never carries the secret");
  }
});
