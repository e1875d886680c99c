/**
 * O(1) subscriber stats: the lifetime counters in subscriber_stats follow the ledger writes
 * (deliveries, dead letters, duplicates, redeliver, trimmed entries), survive ledger retention,
 * and are backfilled from an existing ledger by the migration that adds them.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import t from "tap";
import { recordTrimmed } from "../src/db/dead-letters.js";
import { MIGRATIONS_FOLDER, runMigrations } from "../src/db/migrate.js";
import { recordOutcomes } from "../src/db/processed-events.js";
import { createTestDatabase, ADMIN_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";
import { createSubscriber, deliverySetup, eventually, publish } from "./helpers/delivery.js";

const admin = auth(ADMIN_TOKEN);
const GONE = { reason: "permanent_status" as const, statusCode: 400, error: "HTTP 400", attempts: 1, event: null };

t.test(
  "deliveries and dead letters count once each; redeliver moves one from dead_lettered to delivered",
  async (t) => {
    const { app, receiver, sql } = await deliverySetup(t);
    let refusing = true;
    receiver.answer = (r) => ({ status: r.headers["x-brain-subscriber"] === "refuses" && refusing ? 400 : 200 });
    await createSubscriber(app, { name: "takes", url: receiver.url });
    await createSubscriber(app, { name: "refuses", url: receiver.url });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await publish(app));
    const stats = async (name: string) =>
      (await app.inject({ method: "GET", url: `/v1/subscribers/${name}`, headers: admin })).json().stats;
    await eventually(
      async () => (await stats("takes")).delivered === 5 && (await stats("refuses")).dead_lettered === 5,
    );
    t.match(await stats("takes"), { delivered: 5, dead_lettered: 0, last_delivery_at: /^\d{4}-/ });
    t.match(await stats("refuses"), { delivered: 0, dead_lettered: 5, last_delivery_at: null });
    const [ledger] = await sql`select count(*) filter (where outcome = 'delivered')::int as d,
    count(*) filter (where outcome = 'dead_lettered')::int as x from processed_events`;
    t.same(ledger, { d: 5, x: 5 }, "the counters agree with the ledger");

    refusing = false;
    const redeliver = () =>
      app.inject({ method: "POST", url: `/v1/subscribers/refuses/dead-letters/${ids[0]}/redeliver`, headers: admin });
    t.equal((await redeliver()).json().outcome, "delivered");
    t.match(await stats("refuses"), { delivered: 1, dead_lettered: 4, last_delivery_at: /^\d{4}-/ });
    t.equal((await redeliver()).json().outcome, "delivered", "a resolved letter can be sent again");
    t.match(await stats("refuses"), { delivered: 1, dead_lettered: 4 }, "but it moves the counters only once");

    const list = (await app.inject({ method: "GET", url: "/v1/subscribers", headers: admin })).json().subscribers;
    t.same(
      list.map((s: { name: string; stats: { delivered: number; dead_lettered: number } }) => [
        s.name,
        s.stats.delivered,
        s.stats.dead_lettered,
      ]),
      [
        ["refuses", 1, 4],
        ["takes", 5, 0],
      ],
      "the list shows the same counters",
    );

    await sql`delete from processed_events`;
    t.match(await stats("takes"), { delivered: 5 }, "lifetime totals: deleting ledger rows leaves them alone");
  },
);

t.test("an entry settled twice counts once, on the hot path and on the dead-letter path", async (t) => {
  const { app } = await deliverySetup(t, { BRAIN_ROLE: "api" });
  await createSubscriber(app, { name: "twice", url: "https://8.8.8.8/hook" });
  const counters = async () => {
    const [row] = await app.db.$client`select sum(delivered)::int as d, sum(dead_lettered)::int as x
      from subscriber_stats where subscriber_name = 'twice'`;
    return row;
  };
  await recordOutcomes(app.db, "twice", [
    { id: "1-1", eventId: "a" },
    { id: "1-2", eventId: "b" },
  ]);
  await recordOutcomes(app.db, "twice", [
    { id: "1-2", eventId: "b" },
    { id: "1-3", eventId: "c" },
  ]);
  // Concurrent settlements of the same entries (a reclaim racing the first consumer).
  await Promise.all(
    [0, 1, 2, 3].map(() =>
      recordOutcomes(app.db, "twice", [
        { id: "1-4", eventId: "d" },
        { id: "1-5", eventId: "e" },
      ]),
    ),
  );
  t.same(await counters(), { d: 5, x: 0 }, "five distinct entries delivered");
  await recordOutcomes(app.db, "twice", [
    { id: "1-1", eventId: "a", deadLetter: GONE },
    { id: "1-6", eventId: "f", deadLetter: GONE },
    { id: "1-7", eventId: "g" },
  ]);
  t.same(await counters(), { d: 6, x: 1 }, "1-1 keeps its outcome and is not counted again");
  const trimmed = [
    { id: "1-6", eventId: "f", json: null },
    { id: "1-8", eventId: "h", json: null },
  ];
  t.equal(await recordTrimmed(app.db, "twice", trimmed, "cap"), 1);
  t.same(await counters(), { d: 6, x: 2 }, "a trimmed entry counts as dead-lettered once");
  const [slots] = await app.db.$client`select count(*)::int as n from subscriber_stats where subscriber_name = 'twice'`;
  t.ok(slots!.n >= 1 && slots!.n <= 8, "at most one counter row per slot");
});

t.test("the migration backfills the counters from an existing ledger", async (t) => {
  const url = await createTestDatabase(t);
  // The migrations up to the one before the counters: the schema an existing deployment has.
  const dir = mkdtempSync(join(tmpdir(), "brain-mig-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(MIGRATIONS_FOLDER, dir, { recursive: true });
  const journalPath = join(dir, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((e) => e.tag.endsWith("_ledger_order_and_stats"));
  t.ok(at > 0, "the counters' migration is in the journal");
  journal.entries = journal.entries.slice(0, at);
  writeFileSync(journalPath, JSON.stringify(journal));
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  await migrate(drizzle(sql), { migrationsFolder: dir });

  await sql`insert into subscribers (name, kind, event_types) values ('old', 'internal', '{*}'),
    ('idle', 'internal', '{*}')`;
  await sql`insert into processed_events (subscriber_name, stream_message_id, outcome, processed_at)
    select 'old', '1-' || i, case when i % 4 = 0 then 'dead_lettered' else 'delivered' end,
      timestamptz '2026-01-01T00:00:00Z' + i * interval '1 minute'
    from generate_series(1, 100) as i`;
  await runMigrations(url);

  const rows = await sql`select subscriber_name, delivered::int, dead_lettered::int,
      last_delivery_at = timestamptz '2026-01-01T01:39:00Z' as last_is_row_99
    from subscriber_stats order by subscriber_name`;
  t.same(
    rows.map((r) => ({ ...r })),
    [{ subscriber_name: "old", delivered: 75, dead_lettered: 25, last_is_row_99: true }],
    "75 delivered, 25 dead-lettered, the last delivery at row 99; no row for a subscriber without any",
  );
});
