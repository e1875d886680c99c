/**
 * Ledger retention against real Redis and Postgres: a dedup row goes only once its stream entry is
 * trimmed (per partition, in numeric id order) and it is older than the minimum age; dead letters
 * follow their own setting; one process works at a time; the counters stay.
 */
import type { FastifyInstance } from "fastify";
import t from "tap";
import { loadConfig } from "../src/config.js";
import { deleteLedgerRowsBelow, recordOutcomes } from "../src/db/processed-events.js";
import { Lease } from "../src/stream/lease.js";
import { LedgerRetention } from "../src/stream/ledger-retention.js";
import { nextId } from "../src/stream/ids.js";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, testEnv, type Test } from "./helpers/env.js";
import { auth } from "./helpers/http.js";
import { createSubscriber, eventually, publish } from "./helpers/delivery.js";

const HOUR = 3_600_000;
// No dispatcher, no trimmer, no retention timer: the tests move the stream and run passes by hand.
const QUIET = {
  BRAIN_ROLE: "api",
  BRAIN_TRIM_INTERVAL_MS: "0",
  BRAIN_LEDGER_RETENTION_INTERVAL_MS: "0",
  BRAIN_MAX_EVENT_LOOP_DELAY_MS: "0",
};

/** The retention passes run "100 hours later": every entry published now is older than any cutoff below. */
const LATER = Date.now() + 100 * HOUR;

async function setup(t: Test, env: Record<string, string> = {}) {
  const { app } = await buildApp(t, { ...QUIET, ...env });
  await createSubscriber(app, { name: "sub", url: "https://8.8.8.8/hook" });
  const newLease = () => new Lease(app.redis, app.keys.lock("ledger-retention"), 10_000);
  // One lease for the test's passes, as one process has; the lease test makes a second one.
  const lease = newLease();
  const retention = (over: Partial<ConstructorParameters<typeof LedgerRetention>[0]> = {}) =>
    new LedgerRetention({
      redis: app.redis,
      db: app.db,
      keys: app.keys,
      minAgeMs: 24 * HOUR,
      deadLetterRetentionMs: 0,
      metrics: app.metrics,
      lease,
      pauseMs: 1,
      now: () => LATER,
      ...over,
    });
  return { app, retention, newLease };
}

/** Settles `ids` for "sub" the way the settler does (rows and counters), `ageHours` before LATER. */
async function settle(app: FastifyInstance, ids: string[], ageHours: number): Promise<void> {
  await recordOutcomes(
    app.db,
    "sub",
    ids.map((id) => ({ id, eventId: null })),
  );
  const at = new Date(LATER - ageHours * HOUR).toISOString();
  await app.db.$client`update processed_events set processed_at = ${at}::timestamptz
    where subscriber_name = 'sub' and stream_message_id in ${app.db.$client(ids)}`;
}

const ledgerIds = async (app: FastifyInstance) =>
  (await app.db.$client`select stream_message_id as id from processed_events order by id`).map((r) => r.id as string);
const byId = (ids: string[]) => [...ids].sort();

t.test("a row whose entry is still in the stream is kept however old; trimmed and old rows go", async (t) => {
  const { app, retention } = await setup(t);
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push(await publish(app));
  await settle(app, ids, 48);
  await app.redis.xtrim(app.keys.stream, "MINID", ids[3]!);
  const stats = async () =>
    (await app.inject({ method: "GET", url: "/v1/subscribers/sub", headers: auth(ADMIN_TOKEN) })).json().stats;
  t.equal((await stats()).delivered, 6);

  t.same(await retention().tick(), { ledger: 3, deadLetters: 0 });
  t.same(await ledgerIds(app), byId(ids.slice(3)), "the three entries still in the stream keep their rows");
  t.same(await retention().tick(), { ledger: 0, deadLetters: 0 }, "a second pass finds nothing");
  t.equal((await stats()).delivered, 6, "the counters are lifetime totals");
  t.equal(
    (await app.metrics.retentionDeleted.get()).values.find((v) => v.labels.table === "processed_events")?.value,
    3,
  );
});

t.test("an emptied stream frees rows up to its last-generated-id; young rows stay", async (t) => {
  const { app, retention } = await setup(t);
  const old = [await publish(app), await publish(app)];
  const young = [await publish(app), await publish(app)];
  await settle(app, old, 25);
  await settle(app, young, 23);
  await app.redis.xtrim(app.keys.stream, "MINID", nextId(young[1]!));
  t.equal(await app.redis.xlen(app.keys.stream), 0, "every entry is trimmed");
  t.same(await retention().tick(), { ledger: 2, deadLetters: 0 });
  t.same(await ledgerIds(app), byId(young), "trimmed but younger than BRAIN_LEDGER_MIN_AGE_HOURS: kept");
  t.same(await retention({ minAgeMs: 22 * HOUR }).tick(), { ledger: 2, deadLetters: 0 }, "once old enough, gone");
});

t.test("with 4 partitions each row is held to its own partition's first entry", async (t) => {
  const { app, retention } = await setup(t, { BRAIN_STREAM_PARTITIONS: "4" });
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) ids.push(await publish(app));
  const inPartition = (p: number) => ids.filter((id) => id.startsWith(`${p}:`));
  t.ok(
    [0, 1, 2, 3].every((p) => inPartition(p).length > 0),
    "the events spread over all four partitions",
  );
  await settle(app, ids, 48);
  // Partition 0 keeps only its newest entry; the others are untouched, though most of their
  // entries are older than what partition 0 trimmed.
  const p0 = inPartition(0);
  await app.redis.xtrim(app.keys.partitions[0]!.stream, "MINID", p0.at(-1)!.slice(2));
  t.same(await retention({ batch: 2 }).tick(), { ledger: p0.length - 1, deadLetters: 0 }, "in batches of 2");
  t.same(await ledgerIds(app), byId(ids.filter((id) => !p0.slice(0, -1).includes(id))));
});

t.test("stream ids compare numerically, not as text", async (t) => {
  const { app } = await setup(t);
  const ids = ["999-99", "1000-9", "1000-10", "1000-11", "10000-0", "3:1-1", "18446744073709551615-0"];
  await settle(app, ids, 48);
  const deleted = await deleteLedgerRowsBelow(app.db, "", "1000-10", new Date(LATER), 100);
  t.equal(deleted, 2);
  t.same(
    await ledgerIds(app),
    byId(["1000-10", "1000-11", "10000-0", "3:1-1", "18446744073709551615-0"]),
    "999-99 and 1000-9 are below 1000-10; 1000-11 and 10000-0 are not; another partition's rows are not looked at",
  );
  t.equal(await deleteLedgerRowsBelow(app.db, "3:", "1-2", new Date(LATER), 100), 1, "partition 3's own bound");
  t.equal(await deleteLedgerRowsBelow(app.db, "", "18446744073709551616-0", new Date(LATER), 100), 4, "beyond 2^64");
});

t.test("dead letters: kept by default; with a retention, old ones go unless a redeliver is pending", async (t) => {
  const { app, retention } = await setup(t);
  const letter = { reason: "permanent_status" as const, statusCode: 400, error: "no", attempts: 1, event: null };
  const ids = ["1-1", "1-2", "1-3", "1-4"];
  await recordOutcomes(
    app.db,
    "sub",
    ids.map((id) => ({ id, eventId: null, deadLetter: letter })),
  );
  const sql = app.db.$client;
  const ago = (hours: number) => new Date(LATER - hours * HOUR).toISOString();
  await sql`update dead_letters set failed_at = ${ago(72)}::timestamptz where stream_message_id <> '1-4'`;
  await sql`update dead_letters set failed_at = ${ago(1)}::timestamptz where stream_message_id = '1-4'`;
  await sql`update dead_letters set redeliver_requested_at = ${ago(80)}::timestamptz where stream_message_id = '1-2'`;
  await sql`update dead_letters set resolved_at = ${ago(1)}::timestamptz where stream_message_id = '1-3'`;
  const letters = async () =>
    (await sql`select stream_message_id as id from dead_letters order by id`).map((r) => r.id as string);

  t.same(await retention().tick(), { ledger: 0, deadLetters: 0 }, "0 (the default) keeps them forever");
  t.same(await letters(), ids);
  t.same(await retention({ deadLetterRetentionMs: 48 * HOUR }).tick(), { ledger: 0, deadLetters: 1 });
  t.same(await letters(), ["1-2", "1-3", "1-4"], "pending redeliver, recently resolved and young letters stay");
});

t.test("one process at a time: a second holder of the lease skips its pass", async (t) => {
  const { app, retention, newLease } = await setup(t);
  const ids = [await publish(app), await publish(app)];
  await settle(app, ids, 48);
  await app.redis.xtrim(app.keys.stream, "MINID", nextId(ids[1]!));
  const a = retention();
  const b = retention({ lease: newLease() });
  t.same(await a.tick(), { ledger: 2, deadLetters: 0 });
  t.equal(await b.tick(), null, "b does nothing while a holds the lease");
  await a.release();
  t.same(await b.tick(), { ledger: 0, deadLetters: 0 }, "after a releases it, b runs");
  // Even without the lease (it lapsed during a long pass), concurrent deletes are harmless.
  await settle(app, [ids[0]!, ids[1]!], 48);
  const results = await Promise.all([
    deleteLedgerRowsBelow(app.db, "", nextId(ids[1]!), new Date(LATER), 100),
    deleteLedgerRowsBelow(app.db, "", nextId(ids[1]!), new Date(LATER), 100),
  ]);
  t.equal(results[0]! + results[1]!, 2, "every row is deleted once");
});

t.test("the plugin runs retention on its interval in a running gateway", async (t) => {
  // On the real clock: minimum age 0, so a row goes as soon as its entry is trimmed.
  const { app } = await setup(t, { BRAIN_LEDGER_RETENTION_INTERVAL_MS: "100", BRAIN_LEDGER_MIN_AGE_HOURS: "0" });
  const ids = [await publish(app), await publish(app), await publish(app)];
  await recordOutcomes(
    app.db,
    "sub",
    ids.map((id) => ({ id, eventId: null })),
  );
  await app.redis.xtrim(app.keys.stream, "MINID", ids[2]!);
  await eventually(async () => (await ledgerIds(app)).length === 1, 5000, "the plugin's pass");
  t.same(await ledgerIds(app), [ids[2]]);
  const metrics = await app.inject({ method: "GET", url: "/metrics" });
  t.match(metrics.body, /brain_retention_deleted_rows_total\{table="processed_events"\} 2/);
});

t.test("the new variables are validated like the others", async (t) => {
  const env = await testEnv(t);
  const config = loadConfig(env);
  t.equal(config.ledgerMinAgeHours, 24, "rows outlive their entry by a day by default");
  t.equal(config.deadLetterRetentionHours, 0, "dead letters are kept forever by default");
  t.equal(config.ledgerRetentionIntervalMs, 60_000);
  for (const [name, value] of [
    ["BRAIN_LEDGER_MIN_AGE_HOURS", ""],
    ["BRAIN_LEDGER_MIN_AGE_HOURS", "1e3"],
    ["BRAIN_LEDGER_MIN_AGE_HOURS", "9007199254740993"],
    ["BRAIN_DEAD_LETTER_RETENTION_HOURS", "-1"],
    ["BRAIN_DEAD_LETTER_RETENTION_HOURS", "\u0000"],
    ["BRAIN_LEDGER_RETENTION_INTERVAL_MS", "__proto__"],
  ]) {
    t.throws(
      () => loadConfig({ ...env, [name!]: value }),
      new RegExp(`^${name}: `),
      `${name}=${JSON.stringify(value)}`,
    );
  }
});
