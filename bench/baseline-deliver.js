/**
 * Baseline for bench/deliver.js: the least a stream → webhook consumer can do in the Charter's
 * order, and nothing else. Loop: XREADGROUP COUNT 100 → POST every entry to BENCH_URL through an
 * undici keep-alive pool (at most BENCH_CONCURRENCY requests open, like the gateway's default
 * max_in_flight) → one multi-row INSERT of the dedup rows → one XACK. No signing, no dedup
 * check, no retries, no delivery log, no metrics. The gateway is measured against it.
 *
 * The group (at `0`) and the dedup table `bench_processed` are created by bench/deliver.js.
 * Entries whose POST did not answer 2xx are neither recorded nor ACKed (they stay pending);
 * the receiver always answers 200, so that only happens when something is broken.
 *
 * Env: REDIS_URL, DATABASE_URL (the bench database), BENCH_STREAM, BENCH_GROUP, BENCH_URL
 * (all required but REDIS_URL), BENCH_CONCURRENCY (32). Sends "ready" over IPC once connected.
 */
import { hostname } from "node:os";
import { Redis } from "ioredis";
import postgres from "postgres";
import { Pool } from "undici";

const env = process.env;
const { BENCH_STREAM: stream, BENCH_GROUP: group, BENCH_URL: url, DATABASE_URL: dbUrl } = env;
if (!stream || !group || !url || !dbUrl) {
  process.stderr.write("baseline-deliver: DATABASE_URL, BENCH_STREAM, BENCH_GROUP and BENCH_URL are required\n");
  process.exit(2);
}
const concurrency = Number(env.BENCH_CONCURRENCY ?? 32);
const consumer = `${hostname()}-${process.pid}`;
const target = new URL(url);

const redis = new Redis(env.REDIS_URL ?? "redis://127.0.0.1:6379");
const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
const pool = new Pool(target.origin, { connections: concurrency, keepAliveTimeout: 30_000 });
let stopping = false;

/** POSTs one entry; true on 2xx. */
async function post(id, json) {
  try {
    const res = await pool.request({
      path: target.pathname,
      method: "POST",
      headers: { "content-type": "application/json", "webhook-id": id },
      body: json,
    });
    await res.body.dump();
    return res.statusCode >= 200 && res.statusCode < 300;
  } catch (err) {
    process.stderr.write(`baseline-deliver: POST ${id} failed: ${err.message}\n`);
    return false;
  }
}

/** Delivers a read batch with at most `concurrency` requests open; returns the dedup rows of the successes. */
async function deliver(entries) {
  const rows = [];
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const [id, fields] = entries[next++];
      const json = fields[fields.indexOf("event") + 1];
      if (await post(id, json)) {
        rows.push({
          subscriber_name: group,
          stream_message_id: id,
          event_id: JSON.parse(json).id ?? null,
          outcome: "delivered",
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, entries.length) }, worker));
  return rows;
}

async function run() {
  await sql`select 1`;
  await redis.ping();
  process.send?.("ready");
  while (!stopping) {
    const reply = await redis.xreadgroup("GROUP", group, consumer, "COUNT", 100, "BLOCK", 2000, "STREAMS", stream, ">");
    const entries = reply?.[0]?.[1] ?? [];
    if (entries.length === 0) continue;
    const rows = await deliver(entries);
    if (rows.length === 0) continue;
    await sql`insert into bench_processed ${sql(rows)} on conflict do nothing`;
    await redis.xack(stream, group, ...rows.map((r) => r.stream_message_id));
  }
}

const done = run().catch((err) => {
  // disconnect() on shutdown rejects the blocked XREADGROUP: that is the normal way out.
  if (!stopping) {
    process.stderr.write(`baseline-deliver: ${err.stack ?? err}\n`);
    process.exit(1);
  }
});

process.once("SIGTERM", async () => {
  stopping = true;
  redis.disconnect();
  await done;
  await Promise.all([sql.end({ timeout: 5 }), pool.close()]);
  process.exit(0);
});
