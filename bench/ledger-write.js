/**
 * Ledger write benchmark (issue 12): what the subscriber counters and the stream-order index add
 * to the hot-path ledger insert of every delivery.
 *
 *   npm run build && node bench/ledger-write.js
 *
 * One throwaway database (dropped at the end) at the current schema, plus `ledger_before`: the
 * ledger as it was before (same columns, primary key, unique key and foreign key; no stream-order
 * index, no counters). BENCH_WRITERS concurrent writers (settlers of several partitions and
 * processes) insert batches of BENCH_BATCH fresh rows for one subscriber:
 *   before  the old statement into ledger_before
 *   index   the old statement into processed_events: the stream-order index, no counters
 *   after   recordOutcomes (dist/db/processed-events.js): the ledger insert and the counter upsert
 *   during  after, while a retention loop deletes BENCH_EXPIRED expired rows of another
 *           subscriber in 5,000-row batches with 50 ms pauses (deleteLedgerRowsBelow)
 * in BENCH_ROUNDS rounds of BENCH_DURATION seconds each, alternating which goes first. Reported:
 * rows/s, and Postgres CPU µs per row (the server shares the box), medians over rounds; ratios
 * after/before.
 *
 * Env (all optional): BENCH_WRITERS=8 BENCH_BATCH=20 BENCH_DURATION=5 BENCH_ROUNDS=3 BENCH_EXPIRED=1000000
 *   DATABASE_URL (admin URL)
 */
import { runMigrations } from "../dist/db/migrate.js";
import { closeDb, connectDb } from "../dist/db/client.js";
import { deleteLedgerRowsBelow, recordOutcomes } from "../dist/db/processed-events.js";
import { BenchRun, env, fmt, median, postgresCpuSeconds } from "./lib.js";

const WRITERS = Number(env.BENCH_WRITERS ?? 8);
const BATCH = Number(env.BENCH_BATCH ?? 20);
const DURATION = Number(env.BENCH_DURATION ?? 5);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const EXPIRED = Number(env.BENCH_EXPIRED ?? 1_000_000);

const run = new BenchRun("ledger-write");
const HOUR = 3_600_000;
const T0 = Date.now();
let seq = 0;
/** A batch of fresh settled entries, ids in stream order as a settler writes them. */
const batch = () =>
  Array.from({ length: BATCH }, () => {
    const n = seq++;
    return { id: `${T0 + Math.floor(n / 10)}-${n % 10}`, eventId: null };
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const url = await run.createDatabase();
  await runMigrations(url);
  const db = connectDb(url, WRITERS);
  const sql = db.$client;
  let ok = false;
  try {
    await sql`insert into subscribers (name, kind, event_types) values ('bench', 'internal', '{*}')`;
    await sql`create table ledger_before (like processed_events including defaults including constraints)`;
    await sql`alter table ledger_before add primary key (id), add unique (subscriber_name, stream_message_id),
      add foreign key (subscriber_name) references subscribers (name) on delete cascade`;
    // Expired rows of another subscriber for the retention running during the `during` rounds:
    // entries from two days ago, processed then.
    await sql`insert into subscribers (name, kind, event_types) values ('expired', 'internal', '{*}')`;
    await sql`insert into processed_events (subscriber_name, stream_message_id, outcome, processed_at)
      select 'expired', (${T0 - 48 * HOUR}::bigint + i / 10) || '-' || (i % 10), 'delivered',
        to_timestamp((${T0 - 48 * HOUR}::bigint + i / 10) / 1000.0)
      from generate_series(0, ${EXPIRED - 1}) as i`;
    await sql`vacuum analyze processed_events`;
    let retained = 0;
    // Rows written through recordOutcomes, all fresh: what the counters must add up to.
    let counted = 0;
    const kinds = {
      // The hot-path statement of recordOutcomes before this change.
      before: (rows) => sql`insert into ledger_before (subscriber_name, stream_message_id, event_id, outcome)
        select ${"bench"}, id, event_id, 'delivered'
        from json_to_recordset(${JSON.stringify(rows.map((o) => ({ id: o.id, event_id: o.eventId })))}::json)
          as t(id varchar, event_id varchar)
        on conflict do nothing`,
      // The same statement into the new ledger: the stream-order index without the counters.
      index: (rows) => sql`insert into processed_events (subscriber_name, stream_message_id, event_id, outcome)
        select ${"bench"}, id, event_id, 'delivered'
        from json_to_recordset(${JSON.stringify(rows.map((o) => ({ id: o.id, event_id: o.eventId })))}::json)
          as t(id varchar, event_id varchar)
        on conflict do nothing`,
      after: async (rows) => {
        await recordOutcomes(db, "bench", rows);
        counted += rows.length;
      },
    };
    // `after` while a retention loop (5,000-row batches, 50 ms pauses, as LedgerRetention runs
    // them) deletes the expired rows.
    const during = async () => {
      let stop = false;
      const cutoff = new Date(Date.now() - 24 * HOUR);
      const loop = (async () => {
        while (!stop) {
          const n = await deleteLedgerRowsBelow(db, "", `${cutoff.getTime()}-0`, cutoff, 5000);
          retained += n;
          await sleep(n < 5000 ? 200 : 50);
        }
      })();
      const result = await measure(kinds.after);
      stop = true;
      await loop;
      return result;
    };
    const measure = async (write) => {
      const deadline = performance.now() + DURATION * 1000;
      const cpu0 = postgresCpuSeconds();
      let rows = 0;
      await Promise.all(
        Array.from({ length: WRITERS }, async () => {
          while (performance.now() < deadline) {
            await write(batch());
            rows += BATCH;
          }
        }),
      );
      const cpu = postgresCpuSeconds() - cpu0;
      return { perSecond: rows / DURATION, cpuUs: (cpu * 1e6) / rows };
    };
    for (const write of Object.values(kinds)) await measure(write); // warm-up
    const results = { before: [], index: [], after: [], during: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = ["before", "index", "after", "during"];
      for (const kind of round % 2 === 0 ? order : order.reverse()) {
        results[kind].push(kind === "during" ? await during() : await measure(kinds[kind]));
      }
    }
    const [stats] = await sql`select sum(delivered)::bigint as n from subscriber_stats where subscriber_name = 'bench'`;
    if (Number(stats.n) !== counted) throw new Error(`counters ${stats.n} != rows written ${counted}`);
    const summary = (kind) => ({
      perSecond: median(results[kind].map((r) => r.perSecond)),
      cpuUs: median(results[kind].map((r) => r.cpuUs)),
    });
    const before = summary("before");
    console.log(`${WRITERS} writers, batches of ${BATCH}, ${ROUNDS} rounds of ${DURATION} s (medians):`);
    for (const kind of Object.keys(results)) {
      const k = summary(kind);
      console.log(
        `  ${kind.padEnd(6)}  ${fmt(k.perSecond).padStart(7)} rows/s  ${fmt(k.cpuUs, 1).padStart(5)} µs Postgres CPU ` +
          `per row  (ratio to before: throughput ${fmt(k.perSecond / before.perSecond, 2)}×, ` +
          `CPU ${fmt(k.cpuUs / before.cpuUs, 2)}×)`,
      );
    }
    console.log(`  (retention deleted ${fmt(retained)} expired rows during the \`during\` rounds)`);
    ok = true;
  } finally {
    await closeDb(db);
    await run.cleanup(ok);
  }
}

await main();
