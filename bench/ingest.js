/**
 * Ingest benchmark (issue 2): the gateway (`dist/server.js`) against a bare Fastify + ioredis
 * XADD endpoint (`bench/baseline-ingest.js`), in one run, on the same Redis.
 *
 *   npm run bench:ingest        (builds first; or: node bench/ingest.js after npm run build)
 *
 * Scenarios, each measured with autocannon in a process of its own (bench/load.js):
 *   single  POST /v1/events with one envelope (no id, no Idempotency-Key: every request appends)
 *   batch   POST /v1/events/batch with 100 envelopes vs. a baseline doing 100 XADDs in one pipeline
 * For single events a third server runs, the floor (bench/floor-ingest.js): the baseline plus the
 * checks the gateway must keep, at their cheapest; it tells the cost of those checks from the
 * gateway's own overhead.
 *
 * The servers run as child processes for the whole run. Every scenario is warmed up once per
 * server, then measured in BENCH_ROUNDS rounds, alternating which server goes first (the box is
 * noisy: medians over interleaved runs give a steadier ratio than one long run each).
 * Streams are unlinked between runs so both servers always append to a small stream.
 *
 * Env (all optional):
 *   BENCH_DURATION=10 BENCH_WARMUP=3 BENCH_ROUNDS=3 BENCH_CONNECTIONS=50 BENCH_BATCH_SIZE=100
 *   BENCH_SCENARIOS=single,batch   BENCH_LOG_LEVEL=info (the gateway's LOG_LEVEL; info is its default)
 *   BENCH_GATEWAY_ENV="K=V K2=V2"  (more gateway environment, e.g. BRAIN_MAX_EVENT_LOOP_DELAY_MS=0)
 *   BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"  (added to the node flags of `npm start`;
 *     read the profile with `node bench/cpuprofile-top.js <file>`),
 *     BENCH_BASELINE_NODE_ARGS likewise (baseline and floor)
 *   REDIS_URL=redis://127.0.0.1:6379  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (admin URL)
 *
 * Uses its own database (created and dropped here) and its own stream keys (deleted at the end).
 * Exit code 0 when every target is met, 1 otherwise.
 */
import { cpus, loadavg } from "node:os";
import {
  BASELINE_NODE_ARGS,
  BenchRun,
  cpuSeconds,
  env,
  envelope,
  fmt,
  freePort,
  GATEWAY_ENV,
  GATEWAY_NODE_ARGS,
  loadProcess,
  LOG_LEVEL,
  median,
  REDIS_URL,
  redisCpuSeconds,
  rssMb,
} from "./lib.js";

const DURATION = Number(env.BENCH_DURATION ?? 10);
const WARMUP = Number(env.BENCH_WARMUP ?? 3);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
const BATCH_SIZE = Number(env.BENCH_BATCH_SIZE ?? 100);
const SCENARIOS = (env.BENCH_SCENARIOS ?? "single,batch").split(",").map((s) => s.trim());

// Issue 13: throughput and CPU per request against the bare server, p99 on a quiet machine.
const TARGETS = { single: { ratio: 0.95, cpuRatio: 1.1, p99Ms: 10 }, batch: { ratio: 0.9 } };

const run = new BenchRun("ingest");
const GATEWAY_STREAM = `${run.keyPrefix}:gateway`;
const BASELINE_STREAM = `${run.keyPrefix}:baseline`;
const FLOOR_STREAM = `${run.keyPrefix}:floor`;

// Envelopes without an id: the gateway assigns one and appends every time.
const SINGLE_BODY = JSON.stringify(envelope());
const BATCH_BODY = JSON.stringify({ events: Array.from({ length: BATCH_SIZE }, (_, i) => envelope({ seq: i })) });

function cannon(url, body, headers, duration) {
  return loadProcess({
    url,
    method: "POST",
    connections: CONNECTIONS,
    pipelining: 1,
    duration,
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

async function main() {
  const { redis } = run;
  const dbUrl = await run.createDatabase();

  let allMet = true;
  try {
    /** Starts a server on a free port; `url` is added to the child's record. */
    const startServer = async (name, args, childEnv, healthPath) => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      return { ...(await run.startChild(name, args, { ...childEnv, PORT: String(port) }, url + healthPath)), url };
    };
    const gateway = await startServer(
      "gateway",
      [...GATEWAY_NODE_ARGS, "dist/server.js"],
      {
        HOST: "127.0.0.1",
        REDIS_URL,
        DATABASE_URL: dbUrl,
        BRAIN_STREAM: GATEWAY_STREAM,
        BRAIN_API_TOKENS: `${run.token}=admin+publish`,
        LOG_LEVEL: LOG_LEVEL,
        ...GATEWAY_ENV,
      },
      "/health/live",
    );
    const baseline = await startServer(
      "baseline",
      [...BASELINE_NODE_ARGS, "bench/baseline-ingest.js"],
      { REDIS_URL, BENCH_STREAM: BASELINE_STREAM },
      "/health",
    );

    const floor = await startServer(
      "floor",
      [...BASELINE_NODE_ARGS, "bench/floor-ingest.js"],
      { REDIS_URL, BENCH_STREAM: FLOOR_STREAM, BENCH_TOKEN: run.token },
      "/health",
    );

    const targets = {
      gateway: {
        proc: gateway,
        stream: GATEWAY_STREAM,
        headers: { authorization: `Bearer ${run.token}` },
        single: "/v1/events",
        batch: "/v1/events/batch",
      },
      baseline: { proc: baseline, stream: BASELINE_STREAM, headers: {}, single: "/events", batch: "/events/batch" },
      floor: {
        proc: floor,
        stream: FLOOR_STREAM,
        headers: { authorization: `Bearer ${run.token}` },
        single: "/events",
      },
    };

    // Sanity: both answer 202 and append, and the gateway validates (a bad envelope is refused).
    for (const [name, t] of Object.entries(targets)) {
      const res = await fetch(t.proc.url + t.single, {
        method: "POST",
        headers: { "content-type": "application/json", ...t.headers },
        body: SINGLE_BODY,
      });
      if (res.status !== 202) throw new Error(`${name} answered ${res.status}: ${await res.text()}`);
    }
    const bad = await fetch(gateway.url + "/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json", ...targets.gateway.headers },
      body: JSON.stringify({ ...envelope(), meta: {} }),
    });
    if (bad.status !== 400) throw new Error(`gateway accepted an invalid envelope (${bad.status})`);

    const started = new Date();
    console.log(`# ingest benchmark  ${started.toISOString()}`);
    console.log(
      `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}; ` +
        `${CONNECTIONS} connections, ${WARMUP} s warm-up, ${ROUNDS} rounds × ${DURATION} s per server and scenario; ` +
        `gateway LOG_LEVEL=${LOG_LEVEL}` +
        (env.BENCH_GATEWAY_ENV ? ` ${env.BENCH_GATEWAY_ENV}` : ""),
    );
    console.log(`single body ${SINGLE_BODY.length} B; batch body ${BATCH_BODY.length} B (${BATCH_SIZE} events)\n`);

    const summary = [];
    for (const scenario of SCENARIOS) {
      const body = scenario === "single" ? SINGLE_BODY : BATCH_BODY;
      const perRequest = scenario === "single" ? 1 : BATCH_SIZE;
      const run = async (name, duration) => {
        const t = targets[name];
        await redis.unlink(t.stream);
        const cpu0 = cpuSeconds(t.proc.child.pid);
        const redisCpu0 = await redisCpuSeconds(redis);
        const r = await cannon(t.proc.url + t[scenario], body, t.headers, duration);
        const cpu = cpuSeconds(t.proc.child.pid) - cpu0;
        const rss = rssMb(t.proc.child.pid);
        const redisCpu = (await redisCpuSeconds(redis)) - redisCpu0;
        const ok = r["2xx"];
        const appended = await redis.xlen(t.stream);
        await redis.unlink(t.stream);
        const bad = r.non2xx + r.errors + r.timeouts;
        if (bad > 0) {
          const codes = Object.entries(r.statusCodeStats ?? {})
            .map(([code, { count }]) => `${code}×${count}`)
            .join(" ");
          console.log(`  ! ${name}: ${r.non2xx} non-2xx (${codes}), ${r.errors} errors, ${r.timeouts} timeouts`);
        }
        if (ok * perRequest > appended)
          console.log(`  ! ${name}: ${ok} accepted requests but only ${appended} stream entries`);
        const total = r.requests.total || 1;
        return {
          reqs: ok / r.duration,
          events: (ok * perRequest) / r.duration,
          p50: r.latency.p50,
          p99: r.latency.p99,
          bad,
          // CPU per request is steadier than req/s on a shared box: it says where the time goes.
          cpuUs: (cpu * 1e6) / total,
          redisCpuUs: (redisCpu * 1e6) / total,
          rss,
        };
      };
      console.log(`## ${scenario}${scenario === "batch" ? ` (${BATCH_SIZE} events per request)` : ""}`);
      // The floor (bench/floor-ingest.js) serves single events only.
      const servers = scenario === "single" ? ["baseline", "floor", "gateway"] : ["baseline", "gateway"];
      for (const name of servers) await run(name, WARMUP);
      const rows = { gateway: [], baseline: [], floor: [] };
      const ratios = [];
      const cpuRatios = [];
      const floorCpuRatios = [];
      for (let round = 0; round < ROUNDS && !run.interrupted; round++) {
        // Each server goes first in turn: a round's first run meets the box at its least warm.
        const order = servers.map((_, i) => servers[(i + round) % servers.length]);
        const res = {};
        for (const name of order) {
          await new Promise((r) => setTimeout(r, 500));
          res[name] = await run(name, DURATION);
          rows[name].push(res[name]);
        }
        ratios.push(res.gateway.events / res.baseline.events);
        cpuRatios.push(res.gateway.cpuUs / res.baseline.cpuUs);
        if (res.floor) floorCpuRatios.push(res.floor.cpuUs / res.baseline.cpuUs);
        const line = (n) =>
          `${n} ${fmt(res[n].reqs)} req/s ${fmt(res[n].events)} ev/s p50 ${res[n].p50} ms p99 ${res[n].p99} ms ` +
          `cpu/req ${fmt(res[n].cpuUs)} µs (redis ${fmt(res[n].redisCpuUs)} µs) rss ${fmt(res[n].rss)} MB`;
        const floorLine = res.floor
          ? ` | ${line("floor")} (${(res.floor.events / res.baseline.events).toFixed(3)})`
          : "";
        const ratio = ratios.at(-1).toFixed(3);
        console.log(`  round ${round + 1}: ${line("baseline")}${floorLine} | ${line("gateway")} | ratio ${ratio}`);
      }
      const agg = (name) => {
        const rs = rows[name];
        return {
          reqs: median(rs.map((r) => r.reqs)),
          events: median(rs.map((r) => r.events)),
          p50: median(rs.map((r) => r.p50)),
          p99: median(rs.map((r) => r.p99)),
          worstP99: Math.max(...rs.map((r) => r.p99)),
          cpuUs: median(rs.map((r) => r.cpuUs)),
          redisCpuUs: median(rs.map((r) => r.redisCpuUs)),
          bad: rs.reduce((a, r) => a + r.bad, 0),
          rss: Math.max(...rs.map((r) => r.rss)),
        };
      };
      const g = agg("gateway");
      const b = agg("baseline");
      const ratio = median(ratios);
      const cpuRatio = median(cpuRatios);
      const target = TARGETS[scenario];
      const met =
        ratio >= target.ratio &&
        (target.cpuRatio === undefined || cpuRatio <= target.cpuRatio) &&
        (target.p99Ms === undefined || g.p99 < target.p99Ms) &&
        g.bad === 0;
      allMet &&= met;
      const f = rows.floor.length > 0 ? agg("floor") : null;
      summary.push({ scenario, g, b, f, ratio, cpuRatio, floorCpuRatio: median(floorCpuRatios), ratios, target, met });
    }

    console.log(
      "\n| scenario | server | req/s | events/s | p50 ms | p99 ms (median / worst) | " +
        "server CPU µs/req | Redis CPU µs/req | max RSS MB | non-2xx+errors |",
    );
    console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const { scenario, g, b, f } of summary) {
      for (const [name, x] of [["baseline", b], ...(f ? [["floor", f]] : []), ["gateway", g]]) {
        console.log(
          `| ${scenario} | ${name} | ${fmt(x.reqs)} | ${fmt(x.events)} | ${x.p50} | ${x.p99} / ${x.worstP99} | ` +
            `${fmt(x.cpuUs)} | ${fmt(x.redisCpuUs)} | ${fmt(x.rss)} | ${x.bad} |`,
        );
      }
    }
    console.log("");
    for (const { scenario, g, b, f, floorCpuRatio, ratio, cpuRatio, ratios, target, met } of summary) {
      if (f)
        console.log(
          `${scenario} floor (the required checks at the least): ${(f.events / b.events).toFixed(3)} × baseline ` +
            `req/s, CPU/req ${floorCpuRatio.toFixed(3)} × baseline; ` +
            `gateway CPU/req ${(g.cpuUs / f.cpuUs).toFixed(3)} × floor`,
        );
      const cpu =
        target.cpuRatio === undefined
          ? ""
          : `, CPU/req ${cpuRatio.toFixed(3)} × baseline (target ≤ ${target.cpuRatio})`;
      const p99 = target.p99Ms === undefined ? "" : `, gateway p99 ${g.p99} ms (target < ${target.p99Ms} ms)`;
      console.log(
        `${scenario}: gateway/baseline = ${ratio.toFixed(3)} (rounds ${ratios.map((r) => r.toFixed(3)).join(", ")}; ` +
          `target ≥ ${target.ratio})${cpu}${p99}, gateway max RSS ${fmt(g.rss)} MB → ${met ? "MET" : "MISSED"}`,
      );
    }
  } finally {
    await run.cleanup(allMet);
  }
  process.exitCode = allMet && !run.interrupted ? 0 : 1;
}

await main();
