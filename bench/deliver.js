/**
 * Delivery benchmark (issue 3): the gateway's dispatcher (`dist/server.js`) against a bare
 * consumer (`bench/baseline-deliver.js`), in one run, on the same Redis, Postgres and receiver.
 *
 *   npm run bench:deliver        (builds first; or: node bench/deliver.js after npm run build)
 *
 * A webhook receiver runs in this process (node:http, keep-alive, answers 200 at once) and
 * records each request's arrival time and `webhook-id`; every run delivers to its own path, so
 * a late request of one run cannot count for another. Unique ids count; repeats are duplicates.
 *
 * Scenarios:
 *   throughput  BENCH_EVENTS events are appended first, then the consumer starts: the gateway
 *               gets a subscriber created with `start_from: "earliest"` (events ingested through
 *               POST /v1/events/batch), the baseline a child process on a group created at 0
 *               (events XADDed directly). events/s = unique ids / (last arrival − first arrival),
 *               so start-up is left out; it is printed apart as "first after" (gateway: from
 *               the POST /v1/subscribers, baseline: from spawning its process). Measured in
 *               BENCH_ROUNDS rounds, alternating which server goes first; the ratio is the
 *               median of the per-round ratios (the box is noisy).
 *   latency     a steady BENCH_RATE events/s, batches of BENCH_LATENCY_BATCH on a fixed
 *               schedule, for BENCH_LATENCY_WARMUP + BENCH_LATENCY_SECONDS: POST /v1/events/batch
 *               to the gateway (so its latency includes the ingest hop; BENCH_LATENCY_BATCH=1
 *               uses POST /v1/events), one XADD pipeline per batch for the baseline. Each event
 *               carries its send time; latency = arrival − send time, warm-up events left out.
 *
 * The gateway's RSS (VmRSS from /proc) is sampled every 100 ms for the whole run; the max counts.
 * CPU per event is the consumer process's, and apart from it all Postgres processes' (the box's
 * cores are shared, so Postgres work counts against throughput too).
 *
 * Env (all optional):
 *   BENCH_EVENTS=20000 BENCH_ROUNDS=3 BENCH_CONCURRENCY=32 (subscriber max_in_flight = baseline pool)
 *   BENCH_RATE=1000 BENCH_LATENCY_SECONDS=10 BENCH_LATENCY_WARMUP=1 BENCH_LATENCY_BATCH=10
 *   BENCH_LOG_LEVEL=info (the gateway's LOG_LEVEL)
 *   BENCH_GATEWAY_ENV="K=V K2=V2" (more gateway environment; BRAIN_WEBHOOK_ALLOW_PRIVATE=true and
 *     BRAIN_MAX_EVENT_LOOP_DELAY_MS=0 are set already: the receiver is on 127.0.0.1, and load
 *     shedding must not refuse the preload)
 *   BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (added to the node flags of
 *     `npm start`; read the profile with `node bench/cpuprofile-top.js <file>`),
 *     BENCH_BASELINE_NODE_ARGS likewise
 *   REDIS_URL=redis://127.0.0.1:6379  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (admin URL)
 *
 * Uses its own database (created and dropped here) and its own stream keys (deleted at the end).
 * Exit code 0 when every target is met, 1 otherwise.
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { cpus, loadavg } from "node:os";
import postgres from "postgres";
import { Webhook } from "standardwebhooks";
import { Pool } from "undici";
import {
  BASELINE_NODE_ARGS,
  BenchRun,
  cpuSeconds,
  DELIVERY_ENV,
  env,
  envelope,
  fmt,
  LOG_LEVEL,
  median,
  percentile,
  postgresCpuSeconds,
  REDIS_URL,
  sleep,
  untilCount,
} from "./lib.js";

const EVENTS = Number(env.BENCH_EVENTS ?? 20_000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 32);
const RATE = Number(env.BENCH_RATE ?? 1000);
const LATENCY_SECONDS = Number(env.BENCH_LATENCY_SECONDS ?? 10);
const LATENCY_WARMUP = Number(env.BENCH_LATENCY_WARMUP ?? 1);
const LATENCY_BATCH = Number(env.BENCH_LATENCY_BATCH ?? 10);

// Issue 13: delivery stays ≥ 0.9 × its bare baseline while ingest gets leaner.
const TARGETS = { ratio: 0.9, p99Ms: 20, rssMb: 200 };
/** Events per POST /v1/events/batch while preloading (the gateway's default BRAIN_MAX_BATCH). */
const PRELOAD_BATCH = 500;
/** A run fails when the receiver sees no new event for this long. */
const STALL_MS = 30_000;

const run = new BenchRun("deliver");
const GATEWAY_STREAM = `${run.keyPrefix}:gateway`;
const BASELINE_STREAM = `${run.keyPrefix}:baseline`;

/** Wall-clock milliseconds with sub-millisecond resolution; sender and receiver share this process. */
const now = () => performance.timeOrigin + performance.now();

/** Arrivals on one receiver path. With `latency`, each body's `payload.sent_at` is read too. */
class Bucket {
  ids = new Set();
  requests = 0;
  first = NaN;
  last = NaN;
  /**
   * [seq, send→arrival ms, append→arrival ms] per unique event, when measuring latency. The
   * append time is the stream id's millisecond part (the webhook-id): it splits the gateway's
   * latency into the ingest hop and delivery, at millisecond resolution.
   */
  latencies = [];
  /** The first request, kept to verify its signature. */
  sample = null;

  constructor(latency) {
    this.latency = latency;
  }

  record(headers, body, at) {
    this.requests++;
    const id = headers["webhook-id"];
    if (this.ids.has(id)) return;
    this.ids.add(id);
    if (this.ids.size === 1) {
      this.first = at;
      this.sample = { headers, body };
    }
    this.last = at;
    if (this.latency) {
      const { seq, sent_at: sentAt } = JSON.parse(body).payload;
      this.latencies.push([seq, at - sentAt, at - Number(id.slice(0, id.indexOf("-")))]);
    }
  }

  /** Resolves once `n` unique events arrived; rejects when nothing new arrives for STALL_MS. */
  until(n, what) {
    return untilCount(() => this.ids.size, n, what, STALL_MS);
  }
}

async function startReceiver() {
  const buckets = new Map();
  const server = createHttpServer((req, res) => {
    const at = now();
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(200, { "content-length": "0" }).end();
      buckets.get(req.url)?.record(req.headers, Buffer.concat(chunks).toString(), at);
    });
  });
  // Longer than any pause between runs, so both clients keep their connections (keep-alive).
  server.keepAliveTimeout = 120_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    /** A new bucket on `path`; returns it with the full URL to deliver to. */
    bucket(path, latency = false) {
      const b = new Bucket(latency);
      buckets.set(path, b);
      return [b, base + path];
    },
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Max VmRSS (MB) seen per child name, sampled every 100 ms. */
const maxRssMb = {};

function rssMb(pid) {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
  } catch {
    return NaN; // exited meanwhile
  }
}

const rssSampler = setInterval(() => {
  for (const { name, child } of run.children) {
    const mb = rssMb(child.pid);
    const key = name.replace(/-.*/, "");
    if (mb > (maxRssMb[key] ?? 0)) maxRssMb[key] = mb;
  }
}, 100).unref();

async function main() {
  const { redis } = run;
  const dbUrl = await run.createDatabase();
  const receiver = await startReceiver();
  let gatewayPool = null;

  let allMet = false;
  try {
    // The baseline's dedup table: the shape and unique key of the gateway's processed_events.
    const benchDb = postgres(dbUrl, { max: 1, onnotice: () => {} });
    await benchDb`create table bench_processed (
      id bigserial primary key, subscriber_name varchar(255) not null, stream_message_id varchar(50) not null,
      event_id varchar(64), outcome text not null, processed_at timestamptz not null default now(),
      unique (subscriber_name, stream_message_id))`;
    await benchDb.end();

    const { gateway, url: gatewayUrl } = await run.startGateway(dbUrl, GATEWAY_STREAM, { env: DELIVERY_ENV });
    gatewayPool = new Pool(gatewayUrl, { connections: 8 });
    const call = async (method, path, body) => {
      const res = await gatewayPool.request({
        method,
        path,
        // No content-type without a body: Fastify refuses an empty JSON body.
        headers: { authorization: `Bearer ${run.token}`, ...(body ? { "content-type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.body.text();
      return { status: res.statusCode, body: text ? JSON.parse(text) : null };
    };
    const expect = (what, res, status) => {
      if (res.status !== status)
        throw new Error(`${what}: gateway answered ${res.status}: ${JSON.stringify(res.body)}`);
      return res.body;
    };
    /**
     * Waits until the group has read everything and has nothing pending (every dedup row written,
     * every entry ACKed).
     */
    const settled = async (stream, group) => {
      for (const deadline = Date.now() + STALL_MS; Date.now() < deadline; await sleep(50)) {
        const info = (await redis.xinfo("GROUPS", stream)).map((g) =>
          Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]])),
        );
        const g = info.find((x) => x.name === group);
        if (g && g.pending === 0 && g.lag === 0) return;
      }
      throw new Error(`${group} still has entries pending or unread after ${STALL_MS} ms`);
    };

    /** Appends to the baseline's own stream, the way the gateway stores events (with an id), in one pipeline. */
    const appendBaseline = async (events) => {
      const pipeline = redis.pipeline();
      for (const e of events) {
        // The Charter TEIL C lint rule guards the gateway's event stream; this is the baseline's bench stream.
        // eslint-disable-next-line no-restricted-properties
        pipeline.xadd(BASELINE_STREAM, "*", "event", JSON.stringify({ id: randomUUID(), ...e }));
      }
      await pipeline.exec();
    };
    const startBaseline = (group, url, name) =>
      run.startChild(
        name,
        [...BASELINE_NODE_ARGS, "bench/baseline-deliver.js"],
        {
          REDIS_URL,
          DATABASE_URL: dbUrl,
          BENCH_STREAM: BASELINE_STREAM,
          BENCH_GROUP: group,
          BENCH_URL: url,
          BENCH_CONCURRENCY: String(CONCURRENCY),
        },
        "ipc",
      );

    const runs = {
      /** Preloads through the batch API, then creates the subscriber at `earliest`. */
      async gateway(round) {
        await redis.unlink(GATEWAY_STREAM);
        for (let i = 0; i < EVENTS; i += PRELOAD_BATCH) {
          const events = Array.from({ length: Math.min(PRELOAD_BATCH, EVENTS - i) }, (_, j) =>
            envelope({ seq: i + j }),
          );
          expect("preload", await call("POST", "/v1/events/batch", { events }), 202);
        }
        const name = `bench-r${round}`;
        const [bucket, url] = receiver.bucket(`/gateway/${round}`);
        const cpu0 = cpuSeconds(gateway.child.pid);
        const pg0 = postgresCpuSeconds();
        const started = now();
        const sub = expect(
          "create subscriber",
          await call("POST", "/v1/subscribers", {
            name,
            url,
            event_types: ["*"],
            start_from: "earliest",
            max_in_flight: CONCURRENCY,
          }),
          201,
        );
        await bucket.until(EVENTS, `gateway round ${round + 1}`);
        await settled(GATEWAY_STREAM, name);
        const cpu = cpuSeconds(gateway.child.pid) - cpu0;
        const pgCpu = postgresCpuSeconds() - pg0;
        // An independent check that what was measured are real Standard Webhooks deliveries.
        new Webhook(sub.secret).verify(bucket.sample.body, bucket.sample.headers);
        expect("delete subscriber", await call("DELETE", `/v1/subscribers/${name}`), 204);
        return { bucket, started, cpu, pgCpu };
      },
      /** XADDs directly, creates the group at 0, then starts the consumer process. */
      async baseline(round) {
        await redis.unlink(BASELINE_STREAM);
        for (let i = 0; i < EVENTS; i += 1000) {
          await appendBaseline(Array.from({ length: Math.min(1000, EVENTS - i) }, (_, j) => envelope({ seq: i + j })));
        }
        const group = `bench-r${round}`;
        await redis.xgroup("CREATE", BASELINE_STREAM, group, "0");
        const [bucket, url] = receiver.bucket(`/baseline/${round}`);
        const started = now();
        const proc = await startBaseline(group, url, `baseline-r${round + 1}`);
        const cpu0 = cpuSeconds(proc.child.pid);
        const pg0 = postgresCpuSeconds();
        await bucket.until(EVENTS, `baseline round ${round + 1}`);
        await settled(BASELINE_STREAM, group);
        const cpu = cpuSeconds(proc.child.pid) - cpu0;
        const pgCpu = postgresCpuSeconds() - pg0;
        await run.stopChild(proc);
        return { bucket, started, cpu, pgCpu };
      },
    };
    console.log(`# delivery benchmark  ${new Date().toISOString()}`);
    console.log(
      `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}; ` +
        `${EVENTS} events × ${ROUNDS} rounds per server, max_in_flight ${CONCURRENCY}; ` +
        `latency at ${RATE}/s for ${LATENCY_SECONDS} s ` +
        `(+${LATENCY_WARMUP} s warm-up, batches of ${LATENCY_BATCH}); gateway LOG_LEVEL=${LOG_LEVEL}` +
        (env.BENCH_GATEWAY_ENV ? ` ${env.BENCH_GATEWAY_ENV}` : ""),
    );

    console.log(`\n## throughput (${EVENTS} events appended, then delivered)`);
    const rows = { gateway: [], baseline: [] };
    const ratios = [];
    for (let round = 0; round < ROUNDS && !run.interrupted; round++) {
      const order = round % 2 === 0 ? ["baseline", "gateway"] : ["gateway", "baseline"];
      const res = {};
      for (const name of order) {
        await sleep(500);
        const { bucket, started, cpu, pgCpu } = await runs[name](round);
        res[name] = {
          events: (bucket.ids.size * 1000) / (bucket.last - bucket.first),
          firstMs: bucket.first - started,
          duplicates: bucket.requests - bucket.ids.size,
          cpuUs: (cpu * 1e6) / bucket.ids.size,
          pgCpuUs: (pgCpu * 1e6) / bucket.ids.size,
        };
        rows[name].push(res[name]);
      }
      ratios.push(res.gateway.events / res.baseline.events);
      const line = (n) =>
        `${n} ${fmt(res[n].events)} ev/s (first after ${fmt(res[n].firstMs)} ms, ${res[n].duplicates} dup, ` +
        `cpu/event ${fmt(res[n].cpuUs)} µs, postgres ${fmt(res[n].pgCpuUs)} µs)`;
      console.log(`  round ${round + 1}: ${line("baseline")} | ${line("gateway")} | ratio ${ratios.at(-1).toFixed(3)}`);
    }

    console.log(`\n## latency (${RATE} events/s)`);
    /** Sends RATE events/s in batches on a fixed schedule (a late timer catches up, it does not slow the rate). */
    const pace = async (send) => {
      const interval = (LATENCY_BATCH * 1000) / RATE;
      const batches = Math.round((RATE * (LATENCY_WARMUP + LATENCY_SECONDS)) / LATENCY_BATCH);
      const t0 = performance.now();
      const sends = [];
      for (let k = 0; k < batches; k++) {
        const wait = t0 + k * interval - performance.now();
        if (wait > 0) await sleep(wait);
        const sentAt = now();
        sends.push(
          send(
            Array.from({ length: LATENCY_BATCH }, (_, j) => envelope({ seq: k * LATENCY_BATCH + j, sent_at: sentAt })),
          ),
        );
      }
      const failed = (await Promise.allSettled(sends)).filter((r) => r.status === "rejected");
      if (failed.length > 0) throw new Error(`${failed.length} sends failed, e.g. ${failed[0].reason.message}`);
      return batches * LATENCY_BATCH;
    };
    /** One probe event first, so pacing starts only once the consumer is delivering. */
    const measureLatency = async (name, bucket, send) => {
      await send([envelope({ seq: -1, sent_at: now() })]);
      await bucket.until(1, `${name} latency probe`);
      const sent = await pace(send);
      await bucket.until(1 + sent, `${name} latency`);
      const measured = bucket.latencies.filter(([seq]) => seq >= RATE * LATENCY_WARMUP);
      const ms = measured.map(([, l]) => l).sort((a, b) => a - b);
      const fromAppend = measured.map(([, , l]) => l).sort((a, b) => a - b);
      return {
        p50: percentile(ms, 50),
        p99: percentile(ms, 99),
        max: ms.at(-1),
        appendP50: percentile(fromAppend, 50),
        appendP99: percentile(fromAppend, 99),
        n: ms.length,
        duplicates: bucket.requests - bucket.ids.size,
      };
    };
    const latency = {};
    {
      await redis.unlink(GATEWAY_STREAM);
      const [bucket, url] = receiver.bucket("/gateway/latency", true);
      expect(
        "create subscriber",
        await call("POST", "/v1/subscribers", {
          name: "bench-latency",
          url,
          event_types: ["*"],
          max_in_flight: CONCURRENCY,
        }),
        201,
      );
      latency.gateway = await measureLatency("gateway", bucket, async (events) => {
        const res =
          events.length === 1
            ? await call("POST", "/v1/events", events[0])
            : await call("POST", "/v1/events/batch", { events });
        expect("ingest", res, 202);
      });
    }
    {
      await redis.unlink(BASELINE_STREAM);
      await redis.xgroup("CREATE", BASELINE_STREAM, "bench-latency", "0", "MKSTREAM");
      const [bucket, url] = receiver.bucket("/baseline/latency", true);
      const proc = await startBaseline("bench-latency", url, "baseline-latency");
      latency.baseline = await measureLatency("baseline", bucket, appendBaseline);
      await run.stopChild(proc);
    }
    for (const name of ["baseline", "gateway"]) {
      const l = latency[name];
      console.log(
        `  ${name}: p50 ${fmt(l.p50, 1)} ms, p99 ${fmt(l.p99, 1)} ms, max ${fmt(l.max, 1)} ms ` +
          `over ${l.n} events (${l.duplicates} dup); ` +
          `from the append (XADD) alone: p50 ${fmt(l.appendP50, 1)} ms, p99 ${fmt(l.appendP99, 1)} ms`,
      );
    }

    const agg = (name) => {
      const rs = rows[name];
      return {
        events: median(rs.map((r) => r.events)),
        firstMs: median(rs.map((r) => r.firstMs)),
        duplicates: rs.reduce((a, r) => a + r.duplicates, 0),
        cpuUs: median(rs.map((r) => r.cpuUs)),
      };
    };
    const g = agg("gateway");
    const b = agg("baseline");
    const ratio = median(ratios);
    const rss = maxRssMb.gateway;
    console.log(
      "\n| server | events/s (median) | first delivery after | duplicates | CPU µs/event | " +
        `p50 ms at ${fmt(RATE)}/s | p99 ms at ${fmt(RATE)}/s | max RSS MB |`,
    );
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const [name, x] of [
      ["baseline", b],
      ["gateway", g],
    ]) {
      const l = latency[name];
      console.log(
        `| ${name} | ${fmt(x.events)} | ${fmt(x.firstMs)} ms | ${x.duplicates + l.duplicates} | ${fmt(x.cpuUs)} | ` +
          `${fmt(l.p50, 1)} | ${fmt(l.p99, 1)} | ${fmt(maxRssMb[name], 0)} |`,
      );
    }
    const met = { ratio: ratio >= TARGETS.ratio, p99: latency.gateway.p99 < TARGETS.p99Ms, rss: rss < TARGETS.rssMb };
    console.log("");
    console.log(
      `throughput: gateway/baseline = ${ratio.toFixed(3)} ` +
        `(median of per-round ratios; target ≥ ${TARGETS.ratio}) → ${met.ratio ? "MET" : "MISSED"}`,
    );
    console.log(
      `latency: gateway p99 ${fmt(latency.gateway.p99, 1)} ms at ${RATE} events/s ` +
        `(target < ${TARGETS.p99Ms} ms) → ${met.p99 ? "MET" : "MISSED"}`,
    );
    console.log(
      `memory: gateway max RSS ${fmt(rss, 0)} MB (target < ${TARGETS.rssMb} MB) → ${met.rss ? "MET" : "MISSED"}`,
    );
    allMet = met.ratio && met.p99 && met.rss;
  } finally {
    clearInterval(rssSampler);
    receiver.close();
    await gatewayPool?.close();
    await run.cleanup(allMet);
  }
  process.exitCode = allMet && !run.interrupted ? 0 : 1;
}

await main();
