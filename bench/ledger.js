/**
 * Ledger benchmark (issue 12): subscriber stats, the dedup probe, the NOGROUP recovery and a
 * retention pass over a large `processed_events`.
 *
 *   npm run bench:ledger        (builds first; or: node bench/ledger.js after npm run build)
 *
 * In a throwaway database (dropped at the end) it generates BENCH_LEDGER_ROWS ledger rows with
 * generate_series, spread over BENCH_LEDGER_SUBSCRIBERS subscribers, one in 20 dead-lettered, and
 * backfills subscriber_stats from them the way the migration does. Then, in the same run:
 *   stats      GET /v1/subscribers on a gateway (dist/server.js) reading subscriber_stats, against
 *              the grouped count(*) over the ledger that answered it before (the baseline), run
 *              directly on the same database; medians of BENCH_REPEAT calls, and their ratio.
 *   plans      EXPLAIN (ANALYZE, BUFFERS) of the dedup probe (100 ids) and of newestProcessedId:
 *              both must be index-only scans.
 *   retention  one LedgerRetention pass (dist/stream/ledger-retention.js, 5,000-row batches)
 *              deleting the BENCH_LEDGER_EXPIRED oldest rows of each subscriber: their entries
 *              lie below the stream's first entry and their processed_at is older than the
 *              minimum age; the rest are younger and stay.
 *
 * Env (all optional): BENCH_LEDGER_ROWS=10000000 BENCH_LEDGER_SUBSCRIBERS=4
 *   BENCH_LEDGER_EXPIRED=100000 BENCH_REPEAT=20 REDIS_URL DATABASE_URL (admin URL)
 * Exit code 0 when GET /v1/subscribers answers within 50 ms (median) and both plans are
 * index-only, 1 otherwise.
 */
import postgres from "postgres";
import { runMigrations } from "../dist/db/migrate.js";
import { connectDb, closeDb } from "../dist/db/client.js";
import { createMetrics } from "../dist/metrics.js";
import { streamKeys } from "../dist/stream/keys.js";
import { Lease } from "../dist/stream/lease.js";
import { LedgerRetention } from "../dist/stream/ledger-retention.js";
import { BenchRun, env, envelope, fmt, median } from "./lib.js";

const ROWS = Number(env.BENCH_LEDGER_ROWS ?? 10_000_000);
const SUBSCRIBERS = Number(env.BENCH_LEDGER_SUBSCRIBERS ?? 4);
const EXPIRED = Number(env.BENCH_LEDGER_EXPIRED ?? 100_000);
const REPEAT = Number(env.BENCH_REPEAT ?? 20);
const PER_SUB = Math.floor(ROWS / SUBSCRIBERS);
const HOUR = 3_600_000;
// Stream ids of the generated rows, 10 entries per millisecond: the EXPIRED oldest of each
// subscriber from two days ago, the others from half an hour ago; each processed 50 ms after its entry.
const OLD_MS = Date.now() - 48 * HOUR;
const NEW_MS = Date.now() - HOUR / 2;

const run = new BenchRun("ledger");
const STREAM = `${run.keyPrefix}:stream`;
const names = Array.from({ length: SUBSCRIBERS }, (_, i) => `bench_${i}`);

/** Milliseconds of `fn()` over REPEAT calls (after one warm-up): the median. */
async function timed(fn) {
  await fn();
  const ms = [];
  for (let i = 0; i < REPEAT; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

/** The plan text of `statement`, and whether its ledger access is an index-only scan without heap fetches. */
async function explain(sql, statement, params) {
  const plan = (await sql.unsafe(`explain (analyze, buffers) ${statement}`, params)).map((r) => r["QUERY PLAN"]);
  const text = plan.join("\n");
  const indexOnly = /Index Only Scan/.test(text) && !/Seq Scan|Sort/.test(text) && /Heap Fetches: 0/.test(text);
  return { text, indexOnly };
}

async function generate(sql) {
  for (const name of names) {
    await sql`insert into subscribers (name, kind, event_types) values (${name}, 'internal', '{*}')`;
  }
  const t0 = performance.now();
  await sql`insert into processed_events (subscriber_name, stream_message_id, event_id, outcome, processed_at)
    select 'bench_' || s, ms || '-' || (i % 10), null,
      case when i % 20 = 0 then 'dead_lettered' else 'delivered' end,
      to_timestamp((ms + 50) / 1000.0)
    from generate_series(0, ${SUBSCRIBERS - 1}) as s, generate_series(0, ${PER_SUB - 1}) as i,
      lateral (select case when i < ${EXPIRED} then ${OLD_MS}::bigint + i / 10
                           else ${NEW_MS}::bigint + (i - ${EXPIRED}) / 10 end as ms) as m`;
  await sql`insert into subscriber_stats (subscriber_name, slot, delivered, dead_lettered, last_delivery_at)
    select subscriber_name, 0, count(*) filter (where outcome = 'delivered'),
      count(*) filter (where outcome = 'dead_lettered'), max(processed_at) filter (where outcome = 'delivered')
    from processed_events group by subscriber_name`;
  const loaded = performance.now() - t0;
  await sql`vacuum analyze processed_events`;
  const [size] = await sql`select pg_total_relation_size('processed_events') as total,
    pg_relation_size('processed_events') as heap,
    pg_relation_size('processed_events_subscriber_msg_uq') as uq,
    pg_relation_size('processed_events_stream_order_idx') as ord,
    pg_relation_size('processed_events_pkey') as pk`;
  return { loaded, size };
}

/** The grouped count(*) over the whole ledger that answered the stats before subscriber_stats. */
const OLD_STATS = `select subscriber_name, count(*) filter (where outcome = 'delivered')::int,
  count(*) filter (where outcome = 'dead_lettered')::int, max(processed_at) filter (where outcome = 'delivered')
  from processed_events group by subscriber_name`;
/** processedIds (src/db/processed-events.ts). */
const PROBE = `select hit.id from unnest(string_to_array($1, ',')) as t(id),
  lateral (select stream_message_id as id from processed_events
           where subscriber_name = $2 and stream_message_id = t.id limit 1) as hit`;
/** newestProcessedId as Drizzle renders it (src/db/processed-events.ts with schema.ts streamOrder). */
const NEWEST = `select "stream_message_id" from "processed_events"
  where ("processed_events"."subscriber_name" = $1
    and substr("stream_message_id", 1, strpos("stream_message_id", ':')) = $2)
  order by (substr(split_part("stream_message_id", '-', 1), strpos("stream_message_id", ':') + 1)::numeric) desc,
    (split_part("stream_message_id", '-', 2)::numeric) desc
  limit $3`;

/** One batch of deleteLedgerRowsBelow (src/db/processed-events.ts, jit off), explained in a transaction rolled back. */
const RETENTION_BATCH = `delete from "processed_events" where "processed_events"."id" = any(array(
  select victim.id from "subscribers" s cross join lateral (
    select id from "processed_events"
    where subscriber_name = s.name and substr("stream_message_id", 1, strpos("stream_message_id", ':')) = $1
      and ((substr(split_part("stream_message_id", '-', 1), strpos("stream_message_id", ':') + 1)::numeric),
           (split_part("stream_message_id", '-', 2)::numeric)) < ($2::numeric, $3::numeric)
      and processed_at < $4::timestamptz
    limit $5) victim
  limit $5))`;

/** newestProcessedId before the stream-order index (the baseline): a sort of the subscriber's rows. */
const OLD_NEWEST = `select substr(stream_message_id, 1) as id from processed_events
  where subscriber_name = $1 and starts_with(stream_message_id, '')
  order by split_part(substr(stream_message_id, 1), '-', 1)::numeric desc,
    split_part(substr(stream_message_id, 1), '-', 2)::numeric desc
  limit 1`;

async function main() {
  const dbUrl = await run.createDatabase();
  await runMigrations(dbUrl);
  const sql = postgres(dbUrl, { max: 2, onnotice: () => {} });
  let allMet = false;
  try {
    console.log(`generating ${fmt(PER_SUB * SUBSCRIBERS)} ledger rows over ${SUBSCRIBERS} subscribers…`);
    const { loaded, size } = await generate(sql);
    const mb = (b) => fmt(Number(b) / 2 ** 20);
    const perRow = (b) => fmt(Number(b) / (PER_SUB * SUBSCRIBERS));
    console.log(`  loaded in ${fmt(loaded / 1000, 1)} s (vacuum analyze after)`);
    console.log(
      `  size: ${mb(size.total)} MB total = heap ${mb(size.heap)} + unique ${mb(size.uq)} + stream order ` +
        `${mb(size.ord)} + pkey ${mb(size.pk)}; ${perRow(size.total)} bytes per row ` +
        `(heap ${perRow(size.heap)}, unique ${perRow(size.uq)}, order ${perRow(size.ord)}, pkey ${perRow(size.pk)})`,
    );

    const { gateway, url } = await run.startGateway(dbUrl, STREAM, {
      env: { BRAIN_ROLE: "api", BRAIN_TRIM_INTERVAL_MS: "0", BRAIN_LEDGER_RETENTION_INTERVAL_MS: "0" },
    });
    const list = () =>
      fetch(`${url}/v1/subscribers`, { headers: { authorization: `Bearer ${run.token}` } }).then(async (r) => {
        if (!r.ok) throw new Error(`GET /v1/subscribers: ${r.status}`);
        return r.json();
      });
    const shown = (await list()).subscribers.map((s) => s.stats.delivered + s.stats.dead_lettered);
    if (shown.some((n) => n !== PER_SUB)) throw new Error(`stats do not match the ledger: ${shown}`);
    const oldQuery = await timed(() => sql.unsafe(OLD_STATS));
    const newQuery = await timed(
      () => sql`select subscriber_name, sum(delivered), sum(dead_lettered), max(last_delivery_at)
        from subscriber_stats group by subscriber_name`,
    );
    const http = await timed(list);
    console.log(`\nstats (median of ${REPEAT}):`);
    console.log(`  baseline: grouped count(*) over the ledger     ${fmt(oldQuery, 1)} ms`);
    console.log(
      `  subscriber_stats query                         ${fmt(newQuery, 2)} ms  (${fmt(oldQuery / newQuery)}× faster)`,
    );
    console.log(
      `  GET /v1/subscribers (HTTP, incl. XINFO GROUPS)  ${fmt(http, 2)} ms  (target < 50 ms; ` +
        `${fmt(oldQuery / http)}× faster than the baseline query alone)`,
    );
    // One entry appended now, above every generated id: the stream's first entry, so every
    // generated row's entry counts as trimmed.
    const res = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${run.token}`, "content-type": "application/json" },
      body: JSON.stringify(envelope()),
    });
    if (res.status !== 202) throw new Error(`POST /v1/events: ${res.status}`);
    await run.stopChild(gateway);

    // Half of them recorded, half not (a batch of which the subscriber saw some before a crash).
    const ids = Array.from({ length: 100 }, (_, i) => `${NEW_MS + 1000 + i * 7}-${i % 20}`).join(",");
    const probe = await explain(sql, PROBE, [ids, "bench_1"]);
    const newest = await explain(sql, NEWEST, ["bench_1", "", 1]);
    console.log(`\ndedup probe (100 ids): ${probe.indexOnly ? "index-only" : "NOT index-only"}\n${probe.text}`);
    console.log(`\nnewestProcessedId: ${newest.indexOnly ? "index-only" : "NOT index-only"}\n${newest.text}`);
    const oldNewest = await explain(sql, OLD_NEWEST, ["bench_1"]);
    const took = (e) => Number(/Execution Time: ([0-9.]+) ms/.exec(e.text)?.[1]);
    console.log(
      `\nbaseline, newestProcessedId before the index: ${fmt(took(oldNewest), 1)} ms ` +
        `(${fmt(took(oldNewest) / took(newest))}× the indexed one)\n${oldNewest.text}`,
    );

    const cutoff = new Date(Date.now() - 24 * HOUR);
    const batchPlan = await sql
      .begin(async (tx) => {
        await tx`set local jit = off`;
        const plan = await explain(tx, RETENTION_BATCH, [
          "",
          String(cutoff.getTime()),
          "0",
          cutoff.toISOString(),
          5000,
        ]);
        throw Object.assign(new Error("rollback"), { plan });
      })
      .catch((err) => {
        if (err.plan === undefined) throw err;
        return err.plan;
      });
    console.log(`\none retention batch (5,000 rows, rolled back):\n${batchPlan.text}`);

    const redis = run.redis;
    const db = connectDb(dbUrl, 2);
    const keys = streamKeys(STREAM);
    const before = (await sql`select count(*)::int as n from processed_events`)[0].n;
    const retention = new LedgerRetention({
      redis,
      db,
      keys,
      minAgeMs: 24 * HOUR,
      deadLetterRetentionMs: 0,
      metrics: createMetrics(),
      lease: new Lease(redis, keys.lock("ledger-retention"), 60_000),
    });
    const t0 = performance.now();
    const result = await retention.tick();
    const passMs = performance.now() - t0;
    const after = (await sql`select count(*)::int as n from processed_events`)[0].n;
    await closeDb(db);
    console.log(
      `\nretention pass: deleted ${fmt(result.ledger)} of ${fmt(before)} rows in ${fmt(passMs / 1000, 2)} s ` +
        `(${fmt(result.ledger / (passMs / 1000))} rows/s incl. 50 ms pauses; ${fmt(after)} left; expected ` +
        `${fmt(EXPIRED * SUBSCRIBERS)} deleted)`,
    );
    const statsMet = http < 50;
    const deletedMet = result.ledger === EXPIRED * SUBSCRIBERS && before - after === result.ledger;
    allMet = statsMet && probe.indexOnly && newest.indexOnly && deletedMet;
    console.log(
      `\nstats < 50 ms: ${statsMet ? "met" : "MISSED"}; plans index-only: ${probe.indexOnly && newest.indexOnly}; ` +
        `retention deleted exactly the expired rows: ${deletedMet}`,
    );
  } finally {
    await sql.end({ timeout: 5 });
    await run.cleanup(allMet);
  }
  process.exitCode = allMet ? 0 : 1;
}

await main();
