/**
 * Replays (POST/GET/DELETE /v1/subscribers/{name}/replays): a range of the stream re-sent to one
 * subscriber, signed, marked with x-brain-replay, rate-bounded, cancellable, outside the dedup
 * ledger; trimmed ranges and hostile input answered in the shared error shape.
 */
import t from "tap";
import { Webhook } from "standardwebhooks";
import type { FastifyInstance } from "fastify";
import { createSubscriber, deliverySetup, eventually, publish } from "./helpers/delivery.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";
import type { Received } from "./helpers/receiver.js";
import { parseExposition, valueOf } from "./helpers/prometheus.js";

const { app, receiver, sql } = await deliverySetup(t);
const admin = auth(ADMIN_TOKEN);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked by assertions
type Json = any;

const startReplay = async (name: string, payload: Record<string, unknown>, a: FastifyInstance = app) =>
  a.inject({ method: "POST", url: `/v1/subscribers/${name}/replays`, headers: admin, payload });
const getReplay = async (name: string, id: string): Promise<Json> =>
  (await app.inject({ method: "GET", url: `/v1/subscribers/${name}/replays/${id}`, headers: admin })).json();
const cancel = (name: string, id: string) =>
  app.inject({ method: "DELETE", url: `/v1/subscribers/${name}/replays/${id}`, headers: admin });
/** Creates a replay (202 expected) and waits until it reaches `state`. */
async function replay(name: string, payload: Record<string, unknown>, state = "completed"): Promise<Json> {
  const res = await startReplay(name, payload);
  if (res.statusCode !== 202) throw new Error(`replay refused: ${res.statusCode} ${res.body}`);
  const id = res.json().id as string;
  return eventually(
    async () => {
      const r = await getReplay(name, id);
      return r.state === state ? r : null;
    },
    20_000,
    `replay ${id} ${state}`,
  );
}
const replayed = (id: string) => (r: Received) => r.headers["x-brain-replay"] === id;
/** A subscriber to `<family>.*` and `n` events of type `<family>.tick` for it; returns their stream ids. */
async function withEvents(name: string, family: string, n: number): Promise<string[]> {
  await createSubscriber(app, { name, url: receiver.url, event_types: [`${family}.*`] });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await publish(app, { type: `${family}.tick` }));
  return ids;
}
/** Starts a replay of `ids` at 20/s and waits until `sent` of its requests arrived; returns its id. */
async function running(name: string, ids: string[], sent: number): Promise<string> {
  const res = await startReplay(name, { from: ids[0], max_per_second: 20 });
  const id = res.json().id as string;
  await receiver.waitFor(sent, 10_000, replayed(id));
  return id;
}
const webhookIds = (rs: Received[]) => rs.map((r) => String(r.headers["webhook-id"]));
const rows = async (table: string, name: string) =>
  (await sql`select count(*)::int as n from ${sql(table)} where subscriber_name = ${name}`)[0]!.n as number;

t.test(
  "a replay re-sends each wanted entry of the range once, signed, with x-brain-replay, and never writes the " +
    "ledger: the live delivery of those entries still happens afterwards",
  async (t) => {
    // Live requests fail (503, retried) until the replay is done; replay requests succeed.
    let liveOpen = false;
    receiver.answer = (r) => ({ status: r.headers["x-brain-replay"] || liveOpen ? 200 : 503 });
    const sub = await createSubscriber(app, {
      name: "alpha",
      url: receiver.url,
      event_types: ["mission.*"],
      max_attempts: 100,
    });
    const wanted: string[] = [];
    for (let i = 0; i < 10; i++) {
      wanted.push(await publish(app, { type: "mission.created", payload: { i } }));
      if (i % 3 === 0) await publish(app, { type: "billing.paid" });
    }
    const done = await replay("alpha", { from: wanted[0] });
    t.match(done, { state: "completed", total: 10, sent: 10, delivered: 10, failed: 0, error: null, to: null });
    t.ok(done.started_at && done.finished_at, "started and finished times are set");
    const got = receiver.requests.filter(replayed(done.id));
    t.same(webhookIds(got).sort(), [...wanted].sort(), "each wanted entry exactly once, no billing.paid");
    const stored = new Map(
      ((await app.redis.xrange(app.keys.stream, "-", "+")) as [string, string[]][]).map(([id, f]) => [id, f[1]]),
    );
    const hook = new Webhook(sub.secret);
    for (const r of got) {
      t.equal(r.body, stored.get(String(r.headers["webhook-id"])), "the body is the stored envelope");
      t.ok(hook.verify(r.body, r.headers as Record<string, string>), "a valid Standard Webhooks signature");
      t.equal(r.headers["x-brain-attempt"], "1");
    }
    t.equal(await rows("processed_events", "alpha"), 0, "no dedup row written by the replay");
    t.equal(await rows("dead_letters", "alpha"), 0, "no dead letter either");

    liveOpen = true;
    await eventually(async () => (await rows("processed_events", "alpha")) === 10, 15_000, "live deliveries");
    const live = receiver.requests.filter(
      (r) => !r.headers["x-brain-replay"] && r.headers["x-brain-subscriber"] === "alpha",
    );
    t.same(new Set(webhookIds(live)), new Set(wanted), "every replayed entry was still delivered live");

    const metrics = parseExposition((await app.inject({ method: "GET", url: "/metrics" })).body);
    t.equal(valueOf(metrics, "brain_replay_requests_total", { subscriber: "alpha", outcome: "delivered" }), 10);
  },
);

t.test("ranges by stream id and by time are inclusive; event_types narrows the subscriber's types", async (t) => {
  receiver.answer = () => ({ status: 200 });
  await createSubscriber(app, { name: "ranges", url: receiver.url, event_types: ["*"] });
  const pause = () => new Promise((r) => setTimeout(r, 5));
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await publish(app, { type: "a.one" }));
  await pause();
  const t1 = new Date().toISOString();
  await pause();
  for (let i = 0; i < 5; i++) ids.push(await publish(app, { type: "b.two" }));
  await pause();
  const t2 = new Date().toISOString();
  await pause();
  for (let i = 0; i < 5; i++) ids.push(await publish(app, { type: "a.one" }));

  const byId = await replay("ranges", { from: ids[5], to: ids[9] });
  t.same(webhookIds(receiver.requests.filter(replayed(byId.id))), ids.slice(5, 10), "ids 5..9, both ends included");
  const byTime = await replay("ranges", { from: t1, to: t2 });
  t.same(webhookIds(receiver.requests.filter(replayed(byTime.id))), ids.slice(5, 10), "the entries between the times");
  const typed = await replay("ranges", { from: ids[0], event_types: ["a.*"] });
  t.equal(typed.total, 10);
  t.same(
    webhookIds(receiver.requests.filter(replayed(typed.id))),
    [...ids.slice(0, 5), ...ids.slice(10)],
    "only a.one entries, in stream order",
  );
  const empty = await replay("ranges", { from: "2999-01-01T00:00:00Z" });
  t.match(empty, { total: 0, sent: 0, state: "completed" }, "a range after the newest entry ends at once");
  const list = (
    await app.inject({ method: "GET", url: "/v1/subscribers/ranges/replays?limit=2", headers: admin })
  ).json().replays as Json[];
  t.same(
    list.map((r) => r.id),
    [empty.id, typed.id],
    "the list is newest first and bounded by limit",
  );
});

t.test("max_per_second bounds the rate while live deliveries of the same subscriber keep flowing", async (t) => {
  receiver.answer = () => ({ status: 200 });
  const ids = await withEvents("paced", "paced", 60);
  await receiver.waitFor(60, 10_000, (r) => r.headers["x-brain-subscriber"] === "paced");
  const id = await running("paced", ids, 5);
  const liveId = await publish(app, { type: "paced.live" });
  const live = await receiver.waitFor(1, 5_000, (r) => r.headers["webhook-id"] === liveId);
  const done = await eventually(
    async () => ((await getReplay("paced", id)).state === "completed" ? true : null),
    20_000,
  );
  t.ok(done);
  const got = receiver.requests.filter(replayed(id));
  t.equal(got.length, 60);
  const span = got[59]!.at - got[0]!.at;
  t.ok(span >= 2500, `60 requests at 20/s took ${span} ms (≥ 2500)`);
  t.ok(live[0]!.at < got[59]!.at, "a live event was delivered while the replay was still running");
});

t.test("DELETE cancels within a second, is idempotent, and leaves a finished replay as it was", async (t) => {
  receiver.answer = () => ({ status: 200 });
  const ids = await withEvents("stopper", "stop", 100);
  const id = await running("stopper", ids, 10);
  const cancelled = await cancel("stopper", id);
  t.equal(cancelled.statusCode, 200);
  t.equal(cancelled.json().state, "cancelled");
  await new Promise((r) => setTimeout(r, 1000));
  const after = receiver.requests.filter(replayed(id)).length;
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(receiver.requests.filter(replayed(id)).length, after, "nothing sent once a second has passed");
  t.ok(after < 100, `${after} of 100 sent before the cancel took effect`);
  const settled = await eventually(
    async () => {
      const r = await getReplay("stopper", id);
      return r.sent === after ? r : null;
    },
    5_000,
    "the sent count of the cancelled replay",
  );
  t.match(settled, { state: "cancelled", delivered: after });
  t.equal((await cancel("stopper", id)).json().state, "cancelled", "cancelling again changes nothing");

  const finished = await replay("stopper", { from: ids[98] });
  const again = await cancel("stopper", finished.id);
  t.equal(again.statusCode, 200);
  t.match(again.json(), { state: "completed", delivered: 2 }, "a completed replay stays completed");
});

t.test("transient failures are retried twice, then the entry counts as failed", async (t) => {
  await createSubscriber(app, { name: "flaky", url: receiver.url, event_types: ["flaky.*"] });
  const ok = await publish(app, { type: "flaky.ok" });
  const bad = await publish(app, { type: "flaky.bad" });
  const hiccup = await publish(app, { type: "flaky.hiccup" });
  let hiccups = 0;
  receiver.answer = (r) => {
    if (!r.headers["x-brain-replay"]) return { status: 200 };
    if (r.headers["webhook-id"] === bad) return { status: 500 };
    if (r.headers["webhook-id"] === hiccup && hiccups++ === 0) return { status: 503 };
    return { status: 200 };
  };
  const done = await replay("flaky", { from: ok });
  t.match(done, { total: 3, sent: 3, delivered: 2, failed: 1 });
  const attempts = receiver.requests
    .filter(replayed(done.id))
    .filter((r) => r.headers["webhook-id"] === bad)
    .map((r) => r.headers["x-brain-attempt"]);
  t.same(attempts, ["1", "2", "3"], "three attempts in all");
  t.equal(await rows("dead_letters", "flaky"), 0, "a failed replay request is no dead letter");
});

t.test("410 Gone ends the replay as failed, with the reason", async (t) => {
  const ids = await withEvents("gone", "gone", 30);
  receiver.answer = (r) => ({ status: r.headers["x-brain-replay"] && r.headers["webhook-id"] === ids[5] ? 410 : 200 });
  const done = await replay("gone", { from: ids[0], max_per_second: 20 }, "failed");
  t.match(done, { state: "failed", error: /410 Gone/, total: 30 });
  t.ok(done.failed >= 1 && done.sent < 30, `stopped after ${done.sent} of 30`);
  t.equal(done.sent, done.delivered + done.failed, "the counts add up");
  t.ok(done.finished_at);
});

t.test("a disabled subscriber's replay waits; deleting the subscriber deletes its replays", async (t) => {
  receiver.answer = () => ({ status: 200 });
  const ids = await withEvents("sleepy", "sleepy", 40);
  const id = await running("sleepy", ids, 5);
  const patch = (enabled: boolean) =>
    app.inject({ method: "PATCH", url: "/v1/subscribers/sleepy", headers: admin, payload: { enabled } });
  t.equal((await patch(false)).statusCode, 200);
  await new Promise((r) => setTimeout(r, 1500));
  const paused = receiver.requests.filter(replayed(id)).length;
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(receiver.requests.filter(replayed(id)).length, paused, "no request while the subscriber is disabled");
  t.equal((await getReplay("sleepy", id)).state, "running");
  t.equal((await patch(true)).statusCode, 200);
  const done = await eventually(
    async () => ((await getReplay("sleepy", id)).state === "completed" ? true : null),
    20_000,
  );
  t.ok(done, "it completes once the subscriber is enabled again");
  t.equal(new Set(webhookIds(receiver.requests.filter(replayed(id)))).size, 40, "every entry sent");

  await app.inject({ method: "DELETE", url: "/v1/subscribers/sleepy", headers: admin });
  t.equal(await rows("replays", "sleepy"), 0, "its replays went with it");
  t.equal(
    (await app.inject({ method: "GET", url: `/v1/subscribers/sleepy/replays/${id}`, headers: admin })).statusCode,
    404,
  );
});

t.test("a range reaching below the trimmed head is refused, naming the oldest entry kept", async (t) => {
  const ids = await withEvents("trimmed", "trim", 6);
  const oldest = ((await app.redis.xrange(app.keys.stream, "-", "+", "COUNT", 1)) as [string, string[]][])[0]![0];
  await app.redis.xtrim(app.keys.stream, "MINID", ids[3]!);
  for (const from of [ids[0]!, oldest, "1970-01-01T00:00:00Z"]) {
    const res = await startReplay("trimmed", { from });
    t.equal(res.statusCode, 409, `from ${from}`);
    t.match(res.json(), {
      code: "REPLAY_RANGE_TRIMMED",
      message: new RegExp(`oldest entry still kept is ${ids[3]}`),
      details: [{ path: "/from" }],
    });
  }
  const ok = await replay("trimmed", { from: ids[3]! });
  t.match(ok, { total: 3, delivered: 3 }, "from the oldest kept entry on it runs");
  t.equal(
    (await startReplay("trimmed", { from: "2999-01-01T00:00:00Z" })).statusCode,
    202,
    "after the tail: nothing lost",
  );
});

t.test("hostile and invalid input: a 4xx in the shared shape, nothing written", async (t) => {
  await createSubscriber(app, { name: "guarded", url: receiver.url, event_types: ["*"] });
  const first = await publish(app);
  const cases: [string, unknown, number][] = [
    ["year 99999", { from: "99999-01-01T00:00:00Z" }, 400],
    ["a month 13", { from: "2026-13-01T00:00:00Z" }, 400],
    ["a leap second Date cannot read", { from: "2026-06-30T23:59:60Z" }, 400],
    ["ms beyond 2^64", { from: "18446744073709551616-0" }, 400],
    ["seq beyond 2^64", { from: "1-18446744073709551616" }, 400],
    ["a partition prefix on one partition", { from: "0:1-0" }, 400],
    ["__proto__ as from", { from: "__proto__" }, 400],
    ["valueOf as from", { from: "valueOf" }, 400],
    ["NUL in from", { from: "1-0\u0000" }, 400],
    ["a number", { from: 2 ** 60 }, 400],
    ["to before from", { from: first, to: "1-0" }, 400],
    ["time to before time from", { from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z" }, 400],
    ["max_per_second 0", { from: first, max_per_second: 0 }, 400],
    ["max_per_second 1001", { from: first, max_per_second: 1001 }, 400],
    ["max_per_second 1.5", { from: first, max_per_second: 1.5 }, 400],
    ["max_per_second as string", { from: first, max_per_second: "50" }, 400],
    ["max_per_second beyond 2^53", { from: first, max_per_second: 2 ** 60 }, 400],
    ["empty event_types", { from: first, event_types: [] }, 400],
    ["__proto__ event type", { from: first, event_types: ["__proto__"] }, 400],
    ["an unknown key", { from: first, __proto__x: 1 }, 400],
    ["no from", {}, 400],
    ["a 1 MiB from", { from: "1".repeat(1024 * 1024) }, 413],
  ];
  for (const [what, payload, status] of cases) {
    const res = await app.inject({
      method: "POST",
      url: "/v1/subscribers/guarded/replays",
      headers: { ...admin, "content-type": "application/json" },
      payload: JSON.stringify(payload),
    });
    t.equal(res.statusCode, status, what);
    t.match(res.json(), { statusCode: status, code: String, error: String, message: String }, `${what}: error shape`);
  }
  const proto = await app.inject({
    method: "POST",
    url: "/v1/subscribers/guarded/replays",
    headers: { ...admin, "content-type": "application/json" },
    payload: `{"from":"${first}","__proto__":{"max_per_second":5}}`,
  });
  t.equal(proto.statusCode, 400, "a __proto__ key is an unknown key");
  t.equal(await rows("replays", "guarded"), 0, "nothing was written");

  const valueOf = await startReplay("guarded", { from: first, event_types: ["valueOf"] });
  t.equal(valueOf.statusCode, 202, "valueOf is an event type like any other");
  t.equal((await replay("guarded", { from: first, event_types: ["valueOf"] })).total, 0);
});

t.test("unknown subscribers and replays are 404, bad ids 400; publish tokens get 403", async (t) => {
  const first = await publish(app);
  const none = "0190a0b0-0000-7000-8000-000000000000";
  for (const [method, url] of [
    ["POST", "/v1/subscribers/nobody/replays"],
    ["GET", "/v1/subscribers/nobody/replays"],
    ["GET", `/v1/subscribers/nobody/replays/${none}`],
    ["DELETE", `/v1/subscribers/nobody/replays/${none}`],
    ["GET", `/v1/subscribers/guarded/replays/${none}`],
    ["DELETE", `/v1/subscribers/guarded/replays/${none}`],
  ] as const) {
    const res = await app.inject({
      method,
      url,
      headers: admin,
      ...(method === "POST" ? { payload: { from: first } } : {}),
    });
    t.equal(res.statusCode, 404, `${method} ${url}`);
    t.equal(res.json().code, "NOT_FOUND");
  }
  for (const url of ["/v1/subscribers/guarded/replays/not-a-uuid", "/v1/subscribers/__proto__/replays"]) {
    t.equal((await app.inject({ method: "GET", url, headers: admin })).statusCode, 400, url);
  }
  const forbidden = await app.inject({
    method: "POST",
    url: "/v1/subscribers/guarded/replays",
    headers: auth(PUBLISH_TOKEN),
    payload: { from: first },
  });
  t.equal(forbidden.statusCode, 403);
  t.equal(forbidden.json().code, "FORBIDDEN");
  t.equal((await app.inject({ method: "GET", url: "/v1/subscribers/guarded/replays" })).statusCode, 401);
});

t.test("an internal consumer has no replays; a subscriber has at most 5 unfinished ones", async (t) => {
  const first = await publish(app);
  await sql`insert into subscribers (name, kind, event_types) values ('inner', 'internal', '{*}')`;
  const inner = await startReplay("inner", { from: first });
  t.equal(inner.statusCode, 409);
  t.match(inner.json(), { code: "CONFLICT", message: /internal consumer/ });

  // Disabled: its replays wait, so all five stay pending.
  await createSubscriber(app, { name: "busy", url: receiver.url, event_types: ["*"], enabled: false });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await startReplay("busy", { from: first });
    t.equal(res.statusCode, 202);
    ids.push(res.json().id as string);
  }
  const sixth = await startReplay("busy", { from: first });
  t.equal(sixth.statusCode, 409);
  t.match(sixth.json(), { code: "CONFLICT", message: /5 replays pending or running/ });
  t.equal((await cancel("busy", ids[0]!)).json().state, "cancelled");
  t.equal((await startReplay("busy", { from: first })).statusCode, 202, "a cancelled one frees its place");
  t.equal(await rows("replays", "busy"), 6);
});

t.test("with 4 partitions a time covers every partition, a prefixed id only its own", async (t) => {
  const p4 = await deliverySetup(t, { BRAIN_STREAM_PARTITIONS: "4" });
  p4.receiver.answer = () => ({ status: 200 });
  await createSubscriber(p4.app, { name: "spread", url: p4.receiver.url, event_types: ["*"] });
  const since = new Date(Date.now() - 1).toISOString();
  const ids: string[] = [];
  for (let i = 0; i < 24; i++)
    ids.push(await publish(p4.app, { id: `0190a0b0-0000-7000-8000-${String(i).padStart(12, "0")}` }));
  const partitionOf = (id: string) => Number(id.split(":")[0]);
  t.equal(new Set(ids.map(partitionOf)).size, 4, "the events spread over the four partitions");
  const post = (payload: Record<string, unknown>) => startReplay("spread", payload, p4.app);
  const waitDone = (id: string) =>
    eventually(async () => {
      const r = (
        await p4.app.inject({ method: "GET", url: `/v1/subscribers/spread/replays/${id}`, headers: admin })
      ).json();
      return r.state === "completed" ? r : null;
    }, 20_000);

  const all = await waitDone((await post({ from: since })).json().id);
  t.equal(all.total, 24);
  t.same(
    all.ranges.map((r: Json) => r.partition),
    [0, 1, 2, 3],
  );
  t.same(webhookIds(p4.receiver.requests.filter(replayed(all.id))).sort(), [...ids].sort(), "each entry once");

  const inTwo = ids.filter((id) => partitionOf(id) === 2);
  const one = await waitDone((await post({ from: inTwo[1] })).json().id);
  t.same(
    one.ranges.map((r: Json) => [r.partition, r.from]),
    [[2, inTwo[1]]],
  );
  t.same(webhookIds(p4.receiver.requests.filter(replayed(one.id))), inTwo.slice(1), "partition 2 from that id on");

  const bare = await post({ from: ids[0]!.split(":")[1] });
  t.equal(bare.statusCode, 400, "a bare id does not say which partition");
  t.match(bare.json().details, [{ path: "/from" }]);
  const inOne = ids.find((id) => partitionOf(id) === 1)!;
  t.equal((await post({ from: inTwo[0], to: inOne })).statusCode, 400, "from and to in different partitions");

  const p1 = p4.app.keys.partitions[1]!.stream;
  const keptInOne = ids.filter((id) => partitionOf(id) === 1)[1]!;
  await p4.app.redis.xtrim(p1, "MINID", keptInOne.split(":")[1]!);
  const trimmed = await post({ from: since });
  t.equal(trimmed.statusCode, 409);
  t.match(trimmed.json(), {
    code: "REPLAY_RANGE_TRIMMED",
    details: [{ path: "/from", message: new RegExp(`^partition 1: .* still kept is ${keptInOne}$`) }],
  });
  t.equal(trimmed.json().details.length, 1, "only the trimmed partition is named");
  t.equal((await post({ from: inTwo[0] })).statusCode, 202, "a replay of another partition is unaffected");
});
