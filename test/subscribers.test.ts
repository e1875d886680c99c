import t from "tap";
import { deliveryAttempts } from "../src/db/schema.js";
import { recordOutcomes } from "../src/db/processed-events.js";
import { disableSubscriber } from "../src/db/subscribers.js";
import { loadSubscribers } from "../src/delivery/subscriber-config.js";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

// BRAIN_ROLE=api: no dispatcher reads the groups, so the stats these tests look at move only by their hand.
// Load shedding off: building several apps in one process lags the event loop for a moment.
const QUIET = { BRAIN_ROLE: "api", BRAIN_MAX_EVENT_LOOP_DELAY_MS: "0" };
const { app, config } = await buildApp(t, QUIET);
const admin = auth(ADMIN_TOKEN);
const HOOK = "https://8.8.8.8/hook";

const create = (payload: Record<string, unknown>, a = app) =>
  a.inject({ method: "POST", url: "/v1/subscribers", headers: admin, payload });
/** Publishes one event through the ingest API; returns its stream id. */
const publish = async (): Promise<string> =>
  (await app.inject({ method: "POST", url: "/v1/events", headers: auth(PUBLISH_TOKEN), payload: envelope() })).json()
    .stream_message_id;
const get = (name: string) => app.inject({ method: "GET", url: `/v1/subscribers/${name}`, headers: admin });
const patch = (name: string, payload: Record<string, unknown>) =>
  app.inject({ method: "PATCH", url: `/v1/subscribers/${name}`, headers: admin, payload });
const groups = async () =>
  new Map(
    ((await app.redis.xinfo("GROUPS", config.stream)) as unknown[][]).map((g) => {
      const f = (k: string) => g[g.indexOf(k) + 1];
      return [String(f("name")), { lastDeliveredId: f("last-delivered-id"), pending: f("pending"), lag: f("lag") }];
    }),
  );

t.test(
  "creating a subscriber answers 201 with its secret and makes a group that starts after the newest entry",
  async (t) => {
    const before = await publish();
    const res = await create({ name: "billing", url: HOOK, event_types: ["mission.created"] });
    t.equal(res.statusCode, 201);
    t.equal(res.headers["location"], "/v1/subscribers/billing");
    const body = res.json();
    t.match(body, {
      name: "billing",
      url: HOOK,
      event_types: ["mission.created"],
      description: null,
      enabled: true,
      max_attempts: 8,
      timeout_ms: config.webhookTimeoutMs,
      max_in_flight: 32,
      headers: {},
      previous_secret_expires_at: null,
      stats: { pending: 0, lag: 0, delivered: 0, dead_lettered: 0, last_delivery_at: null },
    });
    t.match(body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    t.same((await groups()).get("billing"), { lastDeliveredId: before, pending: 0, lag: 0 }, "start_from latest = `$`");
  },
);

t.test("start_from earliest replays every retained entry; a stream id starts after that entry", async (t) => {
  const first = await publish();
  t.equal(
    (await create({ name: "replay-all", url: HOOK, event_types: ["*"], start_from: "earliest" })).statusCode,
    201,
  );
  t.equal((await create({ name: "from-id", url: HOOK, event_types: ["*"], start_from: first })).statusCode, 201);
  const g = await groups();
  t.equal(g.get("replay-all")?.lastDeliveredId, "0-0");
  t.equal(g.get("replay-all")?.lag, await app.redis.xlen(config.stream));
  t.equal(g.get("from-id")?.lastDeliveredId, first);
});

t.test("a leftover group of the same name is replaced, so the new subscriber starts where it asked", async (t) => {
  await app.redis.xgroup("CREATE", config.stream, "reborn", "0", "MKSTREAM");
  await app.redis.xreadgroup("GROUP", "reborn", "old", "COUNT", 1, "STREAMS", config.stream, ">");
  t.equal((await create({ name: "reborn", url: HOOK, event_types: ["*"] })).statusCode, 201);
  const last = (await app.redis.xrevrange(config.stream, "+", "-", "COUNT", 1))[0]![0];
  t.same((await groups()).get("reborn"), { lastDeliveredId: last, pending: 0, lag: 0 });
});

t.test("every field's own values are kept on create", async (t) => {
  const secret = "whsec_" + Buffer.alloc(24, 1).toString("base64");
  const res = await create({
    name: "custom_1",
    url: HOOK,
    event_types: ["a.b", "C_D:e-f"],
    description: "ops pager",
    secret,
    enabled: false,
    max_attempts: 3,
    timeout_ms: 2500,
    max_in_flight: 4,
    ordering: "key",
    headers: { "x-api-key": "k-123" },
  });
  t.equal(res.statusCode, 201);
  t.match(res.json(), {
    description: "ops pager",
    enabled: false,
    max_attempts: 3,
    timeout_ms: 2500,
    max_in_flight: 4,
    ordering: "key",
    headers: { "x-api-key": "k-123" },
    secret,
  });
  const [loaded] = (await loadSubscribers(app.db, null)).filter((s) => s.name === "custom_1");
  t.same(loaded, {
    name: "custom_1",
    url: HOOK,
    eventTypes: ["a.b", "C_D:e-f"],
    enabled: false,
    maxAttempts: 3,
    timeoutMs: 2500,
    maxInFlight: 4,
    ordering: "key",
    headers: { "x-api-key": "k-123" },
    signingSecrets: [secret],
  });
});

t.test("a second subscriber with a taken name is 409 and the first one is untouched", async (t) => {
  const first = await create({ name: "dup", url: HOOK, event_types: ["a"] });
  const again = await create({ name: "dup", url: "https://8.8.4.4/", event_types: ["b"] });
  t.equal(again.statusCode, 409);
  t.equal(again.json().code, "CONFLICT");
  t.match((await get("dup")).json(), { url: HOOK, event_types: ["a"] });
  const [loaded] = (await loadSubscribers(app.db, null)).filter((s) => s.name === "dup");
  t.same(loaded?.signingSecrets, [first.json().secret]);
});

t.test("list and get show live stats and never the secret", async (t) => {
  const secret = (await create({ name: "stats", url: HOOK, event_types: ["*"] })).json().secret as string;
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await publish());
  t.match((await get("stats")).json().stats, {
    pending: 0,
    lag: 3,
    delivered: 0,
    dead_lettered: 0,
    last_delivery_at: null,
  });

  await app.redis.xreadgroup("GROUP", "stats", "c1", "COUNT", 2, "STREAMS", config.stream, ">");
  // The settler's write: ledger rows and the counters in one transaction.
  const letter = { reason: "gone" as const, statusCode: 410, error: null, attempts: 1, event: null };
  await recordOutcomes(app.db, "stats", [
    { id: ids[0]!, eventId: "e0" },
    { id: ids[1]!, eventId: "e1", deadLetter: letter },
  ]);
  const one = await get("stats");
  t.match(one.json().stats, { pending: 2, lag: 1, delivered: 1, dead_lettered: 1, last_delivery_at: /^\d{4}-/ });

  const list = await app.inject({ method: "GET", url: "/v1/subscribers", headers: admin });
  t.equal(list.statusCode, 200);
  const names = list.json().subscribers.map((s: { name: string }) => s.name);
  t.same(names, [...names].sort(), "sorted by name");
  t.match(list.json().subscribers.find((s: { name: string }) => s.name === "stats").stats, {
    pending: 2,
    lag: 1,
    delivered: 1,
    dead_lettered: 1,
  });
  for (const body of [one.body, list.body]) {
    t.notOk(body.includes(secret), "the secret is not shown");
    t.notOk(body.includes('"secret"'), "no secret field");
  }
});

t.test("PATCH changes the given fields only; unknown is 404, an empty change 400", async (t) => {
  await create({ name: "patchme", url: HOOK, event_types: ["a"], description: "d", headers: { "x-a": "1" } });
  const res = await patch("patchme", {
    event_types: ["b", "*"],
    enabled: false,
    max_attempts: 2,
    timeout_ms: 1000,
    max_in_flight: 5,
    headers: { "x-b": "2" },
    description: null,
  });
  t.equal(res.statusCode, 200);
  t.match(res.json(), {
    url: HOOK,
    event_types: ["b", "*"],
    enabled: false,
    max_attempts: 2,
    timeout_ms: 1000,
    max_in_flight: 5,
    headers: { "x-b": "2" },
    description: null,
  });
  t.ok(res.json().updated_at > res.json().created_at);
  t.equal((await patch("patchme", { url: "https://8.8.4.4/new" })).json().url, "https://8.8.4.4/new");
  t.equal((await patch("nobody", { enabled: true })).statusCode, 404);
  t.equal((await patch("patchme", {})).statusCode, 400);
  t.match((await patch("patchme", { timeout_ms: config.claimIdleMs + 1 })).json(), {
    statusCode: 400,
    details: [{ path: "/timeout_ms" }],
  });
  t.match((await patch("patchme", { headers: { "webhook-signature": "x" } })).json(), {
    statusCode: 400,
    details: [{ path: "/headers/webhook-signature" }],
  });
  t.match((await patch("patchme", { name: "renamed" })).json(), { statusCode: 400, details: [{ path: "/name" }] });
});

t.test("disableSubscriber turns delivery off, as a 410 Gone answer does", async (t) => {
  await create({ name: "gone", url: HOOK, event_types: ["*"] });
  await disableSubscriber(app.db, "gone");
  t.equal((await get("gone")).json().enabled, false);
});

t.test("DELETE removes the row with its dedup rows, dead letters and attempts, and destroys the group", async (t) => {
  await create({ name: "doomed", url: HOOK, event_types: ["*"] });
  const letter = { reason: "gone" as const, statusCode: 410, error: null, attempts: 1, event: null };
  await recordOutcomes(app.db, "doomed", [{ id: "1-0", eventId: null, deadLetter: letter }]);
  t.equal((await get("doomed")).json().stats.dead_lettered, 1);
  await app.db
    .insert(deliveryAttempts)
    .values({ subscriberName: "doomed", streamMessageId: "1-0", attempt: 1, durationMs: 3, outcome: "dead_lettered" });
  const res = await app.inject({ method: "DELETE", url: "/v1/subscribers/doomed", headers: admin });
  t.equal(res.statusCode, 204);
  t.equal(res.body, "");
  t.equal((await get("doomed")).statusCode, 404);
  t.notOk((await groups()).has("doomed"), "the group is gone");
  const [counts] = await app.db.$client`select
    (select count(*) from processed_events where subscriber_name = 'doomed')::int as p,
    (select count(*) from dead_letters where subscriber_name = 'doomed')::int as d,
    (select count(*) from delivery_attempts where subscriber_name = 'doomed')::int as a,
    (select count(*) from subscriber_stats where subscriber_name = 'doomed')::int as s`;
  t.same(counts, { p: 0, d: 0, a: 0, s: 0 });
  t.equal((await app.inject({ method: "DELETE", url: "/v1/subscribers/doomed", headers: admin })).statusCode, 404);
  t.equal(
    (await create({ name: "doomed", url: HOOK, event_types: ["*"] })).statusCode,
    201,
    "the name can be used again",
  );
  t.equal((await get("doomed")).json().stats.dead_lettered, 0, "the new subscriber starts its counters at zero");
});
