import t from "tap";
import { Redis } from "ioredis";
import { Webhook } from "standardwebhooks";
import { loadSubscribers } from "../src/delivery/subscriber-config.js";
import { signatureHeaders } from "../src/delivery/signature.js";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN, REDIS_URL } from "./helpers/env.js";
import { auth } from "./helpers/http.js";

const SECRET_KEY = "a-very-long-test-encryption-key-0123456789";
const QUIET = { BRAIN_ROLE: "api", BRAIN_MAX_EVENT_LOOP_DELAY_MS: "0" };
const { app, config } = await buildApp(t, { ...QUIET, BRAIN_SECRET_KEY: SECRET_KEY });
const admin = auth(ADMIN_TOKEN);
const HOOK = "https://8.8.8.8/hook";
const create = (name: string) =>
  app.inject({
    method: "POST",
    url: "/v1/subscribers",
    headers: admin,
    payload: { name, url: HOOK, event_types: ["*"] },
  });
const rotate = (name: string) =>
  app.inject({ method: "POST", url: `/v1/subscribers/${name}/rotate-secret`, headers: admin });

t.test("with BRAIN_SECRET_KEY the stored secret is ciphertext and loadSubscribers decrypts it", async (t) => {
  const { secret } = (await create("sealed")).json();
  const [row] = await app.db.$client`select secret from subscribers where name = 'sealed'`;
  t.match(row?.["secret"], /^enc:v2:/, "sealed in the format bound to the subscriber's name");
  t.notOk(String(row?.["secret"]).includes(secret.slice(6)), "the plain secret is not in Postgres");
  const [loaded] = (await loadSubscribers(app.db, SECRET_KEY)).filter((s) => s.name === "sealed");
  t.same(loaded?.signingSecrets, [secret]);
  const unreadable: { name: string; reason: string }[] = [];
  const withoutKey = await loadSubscribers(app.db, null, (u) => unreadable.push(...u));
  t.notOk(
    withoutKey.some((s) => s.name === "sealed"),
    "without the key the row is left out, not delivered unsigned",
  );
  t.match(
    unreadable.find((u) => u.name === "sealed"),
    { reason: /BRAIN_SECRET_KEY is not set/ },
    "and reported clearly",
  );
});

t.test("rotation returns a new secret and both sign for 24 h, verifiable by a Standard Webhooks library", async (t) => {
  const old = (await create("rotating")).json().secret as string;
  const res = await rotate("rotating");
  t.equal(res.statusCode, 200);
  const { secret, previous_secret_expires_at } = res.json();
  t.match(secret, /^whsec_/);
  t.not(secret, old);
  const ttl = Date.parse(previous_secret_expires_at) - Date.now();
  t.ok(ttl > 24 * 3600e3 - 60e3 && ttl <= 24 * 3600e3, "the old secret stays valid for 24 h");
  t.equal(
    (await app.inject({ method: "GET", url: "/v1/subscribers/rotating", headers: admin })).json()
      .previous_secret_expires_at,
    previous_secret_expires_at,
  );

  const [loaded] = (await loadSubscribers(app.db, SECRET_KEY)).filter((s) => s.name === "rotating");
  t.same(loaded?.signingSecrets, [secret, old], "current first, then the previous one");
  const body = '{"type":"mission.created"}';
  const headers = signatureHeaders(loaded!.signingSecrets, "1-0", body);
  t.doesNotThrow(() => new Webhook(secret).verify(body, headers), "a receiver with the new secret verifies");
  t.doesNotThrow(() => new Webhook(old).verify(body, headers), "a receiver with the old secret verifies");

  const [row] = await app.db.$client`select previous_secrets from subscribers where name = 'rotating'`;
  t.match(row?.["previous_secrets"], [{ secret: /^enc:v2:/ }], "the previous secret is encrypted too");
  await app.db.$client`update subscribers set previous_secrets = jsonb_set(previous_secrets, '{0,expires_at}',
    to_jsonb(${new Date(Date.now() - 1000).toISOString()}::text)) where name = 'rotating'`;
  const [later] = (await loadSubscribers(app.db, SECRET_KEY)).filter((s) => s.name === "rotating");
  t.same(later?.signingSecrets, [secret], "after 24 h only the new secret signs");
  t.equal((await rotate("nobody")).statusCode, 404);
});

t.test("every change is published on the subscribers-changed channel", async (t) => {
  const sub = new Redis(REDIS_URL);
  t.teardown(() => sub.disconnect());
  const heard: string[] = [];
  sub.on("message", (_channel: string, name: string) => heard.push(name));
  await sub.subscribe(app.keys.subscribersChanged);
  await create("noisy");
  await app.inject({ method: "PATCH", url: "/v1/subscribers/noisy", headers: admin, payload: { enabled: false } });
  await rotate("noisy");
  await app.inject({ method: "DELETE", url: "/v1/subscribers/noisy/previous-secrets", headers: admin });
  await app.inject({ method: "DELETE", url: "/v1/subscribers/noisy", headers: admin });
  for (let i = 0; i < 50 && heard.length < 5; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(heard, ["noisy", "noisy", "noisy", "noisy", "noisy"]);
});

t.test("every subscriber route needs a token (401) with the admin scope (403)", async (t) => {
  await create("guarded");
  const routes: [string, string][] = [
    ["POST", "/v1/subscribers"],
    ["GET", "/v1/subscribers"],
    ["GET", "/v1/subscribers/guarded"],
    ["PATCH", "/v1/subscribers/guarded"],
    ["DELETE", "/v1/subscribers/guarded"],
    ["POST", "/v1/subscribers/guarded/rotate-secret"],
    ["DELETE", "/v1/subscribers/guarded/previous-secrets"],
    ["GET", "/v1/subscribers/guarded/deliveries"],
    ["GET", "/v1/subscribers/guarded/dead-letters"],
  ];
  for (const [method, url] of routes) {
    const none = await app.inject({
      method: method as "GET",
      url,
      payload: method === "GET" || method === "DELETE" ? undefined : {},
    });
    t.equal(none.statusCode, 401, `${method} ${url} without a token`);
    const publish = await app.inject({ method: method as "GET", url, headers: auth(PUBLISH_TOKEN) });
    t.equal(publish.statusCode, 403, `${method} ${url} with a publish token`);
  }
  t.equal(
    (await app.inject({ method: "GET", url: "/v1/subscribers/guarded", headers: admin })).statusCode,
    200,
    "still there",
  );
});

t.test("while Redis is down, create and delete answer 503 and leave Postgres as it was", async (t) => {
  const { app: gw } = await buildApp(t, QUIET);
  const post = (name: string) =>
    gw.inject({
      method: "POST",
      url: "/v1/subscribers",
      headers: admin,
      payload: { name, url: HOOK, event_types: ["*"] },
    });
  t.equal((await post("kept")).statusCode, 201);
  // The gateway's own link to Redis goes down (the server stays up for the other test files).
  gw.redis.disconnect();
  const res = await post("lost");
  t.equal(res.statusCode, 503);
  t.equal(res.headers["retry-after"], "5");
  t.equal(
    (await gw.inject({ method: "GET", url: "/v1/subscribers/lost", headers: admin })).statusCode,
    404,
    "no row without its group",
  );
  t.equal((await gw.inject({ method: "DELETE", url: "/v1/subscribers/kept", headers: admin })).statusCode, 503);
  const list = await gw.inject({ method: "GET", url: "/v1/subscribers", headers: admin });
  t.equal(list.statusCode, 200, "reads still answer from Postgres");
  t.match(list.json().subscribers, [{ name: "kept", stats: { pending: null, lag: null } }]);
  const patched = await gw.inject({
    method: "PATCH",
    url: "/v1/subscribers/kept",
    headers: admin,
    payload: { enabled: false },
  });
  t.equal(
    patched.statusCode,
    200,
    "a change that needs no group works; its lost notification is caught by the dispatchers' poll",
  );
});

t.test("the OpenAPI document describes every subscriber route", async (t) => {
  const doc = (await app.inject({ method: "GET", url: "/openapi.json" })).json();
  for (const [path, methods] of Object.entries({
    "/v1/subscribers": ["post", "get"],
    "/v1/subscribers/{name}": ["get", "patch", "delete"],
    "/v1/subscribers/{name}/rotate-secret": ["post"],
    "/v1/subscribers/{name}/previous-secrets": ["delete"],
    "/v1/subscribers/{name}/deliveries": ["get"],
    "/v1/subscribers/{name}/dead-letters": ["get"],
  })) {
    for (const m of methods) {
      const op = doc.paths[path]?.[m];
      t.match(
        op,
        { tags: ["subscribers"], summary: String, description: String, security: [{ bearerAuth: [] }] },
        `${m} ${path}`,
      );
      t.ok(op?.responses?.["401"] && op?.responses?.["403"], `${m} ${path} documents its errors`);
    }
  }
  t.ok(doc.components.schemas.CreatedSubscriber.properties.secret);
  t.notOk(doc.components.schemas.Subscriber.properties.secret, "a subscriber read never has a secret");
  t.equal(config.secretKey, SECRET_KEY);
});
