/**
 * The Charter's seven idempotency tests (Charter C and D, docs/EVENT_SYSTEM.md), one named test
 * each, against the in-process consumer of the package's main entry, on the real Redis and Postgres.
 */
import t from "tap";
import postgres from "postgres";
import { createEventConsumer, PermanentError, TransientError, type ConsumedEvent } from "../src/index.js";
import { buildApp } from "./helpers/app.js";
import { eventually, pendingCount } from "./helpers/delivery.js";
import { envelope } from "./helpers/http.js";
import type { Test } from "./helpers/env.js";

type Handlers = Record<string, (e: ConsumedEvent) => Promise<void>>;

async function setup(t: Test) {
  const { app, env } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_RETRY_SCHEDULE: "1h", LOG_LEVEL: "silent" });
  const sql = postgres(env["DATABASE_URL"]!, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  /** Appends one entry as a producer would, without ingest's idempotency: a producer retry is a new entry. */
  const append = async (over: Record<string, unknown> = {}) => {
    const event = envelope(over);
    const [r] = await app.publisher.publish([{ json: JSON.stringify(event), eventId: String(event["id"] ?? "") }]);
    return r!.streamMessageId;
  };
  const consume = async (name: string, handlers: Handlers) => {
    const consumer = createEventConsumer({ name, handlers, env, startFrom: "earliest" });
    t.teardown(() => consumer.stop(1000));
    await consumer.start();
    return consumer;
  };
  return { app, sql, append, consume };
}

t.test("the dedup key is the stream message id: two entries carrying the same event.id are both handled", async (t) => {
  const { sql, append, consume } = await setup(t);
  const seen: string[] = [];
  const first = await append({ id: "same-event-id" });
  const second = await append({ id: "same-event-id" });
  await consume("dedup-key", { "*": async (e) => void seen.push(e.streamMessageId) });
  await eventually(() => seen.length === 2, 10_000, "both entries");
  t.same(seen.sort(), [first, second].sort());
  const rows = await sql`select stream_message_id from processed_events where subscriber_name = 'dedup-key'`;
  t.equal(rows.length, 2, "one dedup row per stream message id");
});

t.test("replaying the same stream message id is idempotent: the handler runs once", async (t) => {
  const { app, append, consume } = await setup(t);
  let calls = 0;
  const id = await append();
  await consume("replay", { "*": async () => void calls++ });
  await eventually(async () => calls === 1 && (await pendingCount(app, "replay")) === 0, 10_000, "first handling");
  // A Redis redelivery of the same entry: the group is rewound, so XREADGROUP hands it out again.
  await app.redis.xgroup("SETID", app.keys.stream, "replay", "0");
  await eventually(async () => {
    const info = (await app.redis.xinfo("GROUPS", app.keys.stream)) as unknown[][];
    const group = info.find((g) => g[1] === "replay")!;
    return group[group.indexOf("last-delivered-id") + 1] === id && (await pendingCount(app, "replay")) === 0;
  });
  t.equal(calls, 1, "the redelivered entry was recognised by its stream id and ACKed without a call");
});

t.test("a new message with the same payload is processed", async (t) => {
  const { append, consume } = await setup(t);
  const payloads: unknown[] = [];
  const payload = { mission_id: "m-1", step: 3 };
  await append({ payload });
  await append({ payload });
  await consume("same-payload", { "*": async (e) => void payloads.push(e.event.payload) });
  await eventually(() => payloads.length === 2, 10_000, "both messages");
  t.same(payloads, [payload, payload], "content equality is no duplicate: only the stream id is");
});

t.test("the dedup row holds the stream message id, with the event.id as audit only", async (t) => {
  const { sql, append, consume } = await setup(t);
  let done = false;
  const id = await append({ id: "audit-event-id" });
  await consume("audit", { "*": async () => void (done = true) });
  await eventually(() => done);
  const rows = await eventually(async () => {
    const r = await sql`select * from processed_events where subscriber_name = 'audit'`;
    return r.length > 0 && r;
  });
  t.equal(rows.length, 1);
  t.match(rows[0], {
    subscriber_name: "audit",
    stream_message_id: id,
    event_id: "audit-event-id",
    outcome: "delivered",
  });
});

t.test("a permanent error ACKs the entry and keeps it as a dead letter", async (t) => {
  const { app, sql, append, consume } = await setup(t);
  let calls = 0;
  const id = await append({ id: "bad-mission" });
  await consume("permanent", {
    "*": async () => {
      calls++;
      throw new PermanentError("mission payload is unusable");
    },
  });
  const [letter] = await eventually(async () => {
    const rows = await sql`select * from dead_letters where subscriber_name = 'permanent'`;
    return rows.length > 0 && rows;
  });
  t.match(letter, {
    stream_message_id: id,
    event_id: "bad-mission",
    reason: "permanent_error",
    last_error: "mission payload is unusable",
    attempts: 1,
  });
  t.ok(String(letter!["event"]).includes('"bad-mission"'), "the dead letter keeps the event");
  await eventually(async () => (await pendingCount(app, "permanent")) === 0, 10_000, "the ACK");
  const [dedup] = await sql`select outcome from processed_events where subscriber_name = 'permanent'`;
  t.equal(dedup!["outcome"], "dead_lettered");
  t.equal(calls, 1, "no retry of a permanent error");
});

t.test("a transient error does not ACK: the entry stays pending for a retry", async (t) => {
  const { app, sql, append, consume } = await setup(t);
  let calls = 0;
  const id = await append();
  await consume("transient", {
    "*": async () => {
      calls++;
      throw new TransientError("the mission store is down");
    },
  });
  await eventually(() => calls === 1, 10_000, "the first call");
  // The settle of a failed call is in memory only: give a wrong ACK every chance to land.
  await new Promise((r) => setTimeout(r, 500));
  const pending = (await app.redis.xpending(app.keys.stream, "transient", "-", "+", 10)) as [string, ...unknown[]][];
  t.same(
    pending.map((p) => p[0]),
    [id],
    "still pending",
  );
  t.equal((await sql`select 1 from processed_events where subscriber_name = 'transient'`).length, 0, "no dedup row");
  t.equal((await sql`select 1 from dead_letters where subscriber_name = 'transient'`).length, 0, "no dead letter");
});

t.test("handlers are registered per type: each type reaches its own handler, others are ACKed unseen", async (t) => {
  const { app, sql, append, consume } = await setup(t);
  const calls: string[] = [];
  await append({ type: "mission.created" });
  await append({ type: "mission.failed" });
  await append({ type: "billing.invoiced" });
  await consume("per-type", {
    "mission.created": async (e) => void calls.push(`created:${e.event.type}`),
    "mission.*": async (e) => void calls.push(`prefix:${e.event.type}`),
  });
  await eventually(async () => calls.length === 2 && (await pendingCount(app, "per-type")) === 0);
  t.same(calls.sort(), ["created:mission.created", "prefix:mission.failed"], "the most specific handler wins");
  const rows = await sql`select count(*)::int as n from processed_events where subscriber_name = 'per-type'`;
  t.equal(rows[0]!["n"], 2, "the unhandled type got no dedup row");
});
