/**
 * Secret rotation end to end: every rotated-out secret keeps signing real deliveries until its
 * own overlap ends, an admin can end the overlap early, and a receiver verifies with the
 * `standardwebhooks` library whichever secret it holds.
 */
import t, { type Test } from "tap";
import { Webhook } from "standardwebhooks";
import { loadSubscribers } from "../src/delivery/subscriber-config.js";
import { createSubscriber, deliverySetup, publish, type DeliverySetup } from "./helpers/delivery.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";
import type { Received } from "./helpers/receiver.js";

const SECRET_KEY = "a-very-long-test-encryption-key-0123456789";
const admin = auth(ADMIN_TOKEN);

const verifies = (secret: string, req: Received) => {
  try {
    new Webhook(secret).verify(req.body, {
      "webhook-id": String(req.headers["webhook-id"]),
      "webhook-timestamp": String(req.headers["webhook-timestamp"]),
      "webhook-signature": String(req.headers["webhook-signature"]),
    });
    return true;
  } catch {
    return false;
  }
};

const rotate = async (app: DeliverySetup["app"], name: string) => {
  const res = await app.inject({ method: "POST", url: `/v1/subscribers/${name}/rotate-secret`, headers: admin });
  return { status: res.statusCode, body: res.json() };
};

/** Publishes one event once the dispatcher has seen every change so far; returns the request it made. */
async function deliverOne(t: Test, { app, receiver }: DeliverySetup): Promise<Received> {
  await app.dispatcher.reload();
  const before = receiver.requests.length;
  const id = await publish(app);
  const [req] = await receiver.waitFor(1, 10_000, (r) => r.headers["webhook-id"] === id);
  t.equal(receiver.requests.length, before + 1);
  return req!;
}

t.test("two rotations within the overlap: the first, second and third secret all sign", async (t) => {
  const setup = await deliverySetup(t, { BRAIN_SECRET_KEY: SECRET_KEY });
  const { app, receiver } = setup;
  const first = (await createSubscriber(app, { name: "rot", url: receiver.url })).secret;
  const r2 = await rotate(app, "rot");
  const r3 = await rotate(app, "rot");
  t.equal(r2.status, 200);
  t.equal(r3.status, 200);
  const [second, third] = [r2.body.secret as string, r3.body.secret as string];

  const req = await deliverOne(t, setup);
  t.equal(String(req.headers["webhook-signature"]).split(" ").length, 3, "three signatures");
  t.ok(verifies(third, req), "the newest secret verifies");
  t.ok(verifies(second, req), "the second secret still verifies");
  t.ok(verifies(first, req), "the first secret still verifies: the second rotation did not cut it short");

  const shown = (await app.inject({ method: "GET", url: "/v1/subscribers/rot", headers: admin })).json();
  t.same(
    shown.previous_secrets_expire_at,
    [r2.body.previous_secret_expires_at, r3.body.previous_secret_expires_at],
    "each rotated-out secret has its own expiry",
  );
  t.equal(shown.previous_secret_expires_at, r3.body.previous_secret_expires_at, "the latest expiry");
  const [row] = await setup.sql`select secret, previous_secrets from subscribers where name = 'rot'`;
  t.match(row, { secret: /^enc:v2:/, previous_secrets: [{ secret: /^enc:v2:/ }, { secret: /^enc:v2:/ }] });

  const ended = await app.inject({ method: "DELETE", url: "/v1/subscribers/rot/previous-secrets", headers: admin });
  t.equal(ended.statusCode, 204);
  t.equal(ended.body, "");
  const after = await deliverOne(t, setup);
  t.equal(String(after.headers["webhook-signature"]).split(" ").length, 1, "one signature");
  t.ok(verifies(third, after), "the newest secret verifies");
  t.notOk(verifies(second, after), "the second secret no longer signs");
  t.notOk(verifies(first, after), "the first secret no longer signs");
  t.match((await app.inject({ method: "GET", url: "/v1/subscribers/rot", headers: admin })).json(), {
    previous_secret_expires_at: null,
    previous_secrets_expire_at: [],
  });
});

t.test("each rotated-out secret stops signing at its own expiry", async (t) => {
  const { app, receiver, sql } = await deliverySetup(t, { BRAIN_ROLE: "api" });
  const first = (await createSubscriber(app, { name: "aging", url: receiver.url })).secret;
  const second = (await rotate(app, "aging")).body.secret as string;
  const third = (await rotate(app, "aging")).body.secret as string;
  const signing = async () => (await loadSubscribers(app.db, null)).find((s) => s.name === "aging")?.signingSecrets;
  t.same(await signing(), [third, second, first], "current first, then the most recently rotated out");
  const past = new Date(Date.now() - 1000).toISOString();
  await sql`update subscribers
            set previous_secrets = jsonb_set(previous_secrets, '{0,expires_at}', to_jsonb(${past}::text))
            where name = 'aging'`;
  t.same(await signing(), [third, second], "the first one expired alone");
  const shown = (await app.inject({ method: "GET", url: "/v1/subscribers/aging", headers: admin })).json();
  t.equal(shown.previous_secrets_expire_at.length, 1, "an expired secret is not shown");
  await rotate(app, "aging");
  const [row] = await sql`select jsonb_array_length(previous_secrets) as n from subscribers where name = 'aging'`;
  t.equal(row!.n, 2, "a rotation drops the expired ones from the row");
});

t.test("ending the overlap: 404 for an unknown subscriber, admin scope only", async (t) => {
  const { app, receiver } = await deliverySetup(t, { BRAIN_ROLE: "api" });
  await createSubscriber(app, { name: "kept", url: receiver.url });
  const end = (name: string, token: string) =>
    app.inject({ method: "DELETE", url: `/v1/subscribers/${name}/previous-secrets`, headers: auth(token) });
  t.match((await end("nobody", ADMIN_TOKEN)).json(), { statusCode: 404, code: "NOT_FOUND" });
  t.equal((await end("kept", PUBLISH_TOKEN)).statusCode, 403);
  t.equal((await app.inject({ method: "DELETE", url: "/v1/subscribers/kept/previous-secrets" })).statusCode, 401);
  t.equal((await end("kept", ADMIN_TOKEN)).statusCode, 204, "nothing to end is fine too");
});

t.test("at most 10 rotated-out secrets sign at once: an 11th rotation is 409 until the overlap ends", async (t) => {
  const { app, receiver } = await deliverySetup(t, { BRAIN_ROLE: "api" });
  const current = async () => (await loadSubscribers(app.db, null)).find((s) => s.name === "busy")!.signingSecrets;
  await createSubscriber(app, { name: "busy", url: receiver.url });
  for (let i = 0; i < 10; i++) t.equal((await rotate(app, "busy")).status, 200, `rotation ${i + 1}`);
  const before = await current();
  t.equal(before.length, 11);
  const refused = await rotate(app, "busy");
  t.match(refused, { status: 409, body: { code: "CONFLICT", message: /previous-secrets/ } });
  t.same(await current(), before, "the refused rotation changed nothing");
  await app.inject({ method: "DELETE", url: "/v1/subscribers/busy/previous-secrets", headers: admin });
  t.equal((await rotate(app, "busy")).status, 200);
  t.equal((await current()).length, 2);
});
