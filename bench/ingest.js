/**
 * Ingest benchmark (issue 2): the gateway (`dist/server.js`) against a bare Fastify + ioredis
 * XADD endpoint (`bench/baseline-ingest.js`), in one run, on the same Redis.
 *
 *   npm run bench:ingest        (builds first; or: node bench/ingest.js after npm run build)
 *
 * Scenarios, each measured with autocannon's programmatic API:
 *   single  POST /v1/events with one envelope (no id, no Idempotency-Key: every request appends)
 *   batch   POST /v1/events/batch with 100 envelopes vs. a baseline doing 100 XADDs in one pipeline
 *
 * Both servers run as child processes for the whole run. Every scenario is warmed up once per
 * server, then measured in BENCH_ROUNDS rounds, alternating which server goes first (the box is
 * noisy: medians over interleaved runs give a steadier ratio than one long run each).
 * Streams are unlinked between runs so both servers always append to a small stream.
 *
 * Env (all optional):
 *   BENCH_DURATION=10 BENCH_WARMUP=3 BENCH_ROUNDS=3 BENCH_CONNECTIONS=50 BENCH_BATCH_SIZE=100
 *   BENCH_SCENARIOS=single,batch   BENCH_LOG_LEVEL=info (the gateway's LOG_LEVEL; info is its default)
 *   BENCH_GATEWAY_ENV="K=V K2=V2"  (more gateway environment, e.g. BRAIN_MAX_EVENT_LOOP_DELAY_MS=0)
 *   BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"  (extra node flags for the gateway;
 *     read the profile with `node bench/cpuprofile-top.js <file>`), BENCH_BASELINE_NODE_ARGS likewise
 *   REDIS_URL=redis://127.0.0.1:6379  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (admin URL)
 *
 * Uses its own database (created and dropped here) and its own stream keys (deleted at the end).
 * Exit code 0 when every target is met, 1 otherwise.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { Redis } from "ioredis";
import postgres from "postgres";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const env = process.env;
const DURATION = Number(env.BENCH_DURATION ?? 10);
const WARMUP = Number(env.BENCH_WARMUP ?? 3);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
const BATCH_SIZE = Number(env.BENCH_BATCH_SIZE ?? 100);
const SCENARIOS = (env.BENCH_SCENARIOS ?? "single,batch").split(",").map((s) => s.trim());
const LOG_LEVEL = env.BENCH_LOG_LEVEL ?? "info";
const GATEWAY_NODE_ARGS = (env.BENCH_GATEWAY_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
/** Extra gateway environment, e.g. "BRAIN_MAX_EVENT_LOOP_DELAY_MS=0 BRAIN_ROLE=api". */
const GATEWAY_ENV = Object.fromEntries(
  (env.BENCH_GATEWAY_ENV ?? "").split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);
const BASELINE_NODE_ARGS = (env.BENCH_BASELINE_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
const REDIS_URL = env.REDIS_URL ?? "redis://127.0.0.1:6379";
const PG_ADMIN_URL = env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

const TARGETS = { single: { ratio: 0.9, p99Ms: 10 }, batch: { ratio: 0.8 } };

const suffix = `${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
const TOKEN = `bench-${randomBytes(12).toString("hex")}`;
const GATEWAY_STREAM = `bench:ingest:${suffix}:gateway`;
const BASELINE_STREAM = `bench:ingest:${suffix}:baseline`;
const DB_NAME = `brain_bench_${suffix}`;
const logDir = mkdtempSync(join(tmpdir(), "brain-bench-"));

/** A realistic Charter envelope (~450 bytes): no id, so the gateway assigns one and appends every time. */
function envelope(i) {
  return {
    type: "mission.created",
    source: "mission_queue",
    target: null,
    payload: {
      mission_id: `m-${1000 + i}`,
      title: "Survey sector 7G",
      priority: 3,
      tags: ["survey", "autonomous"],
      requested_by: { user_id: "u-7781", team: "ops" },
      params: { max_duration_s: 3600, retries: 2, dry_run: false },
    },
    timestamp: "2026-11-26T18:00:00.000Z",
    meta: {
      schema_version: 1,
      producer: "mission_queue_manager",
      source_module: "missions",
      correlation_id: "0193a1c2-7d4e-7b8a-9c1d-2e3f4a5b6c7d",
    },
  };
}
const SINGLE_BODY = JSON.stringify(envelope(0));
const BATCH_BODY = JSON.stringify({ events: Array.from({ length: BATCH_SIZE }, (_, i) => envelope(i)) });

async function freePort() {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

const children = [];

/** Starts a server child process with stdout+stderr into a log file; resolves once /health answers. */
async function startChild(name, args, childEnv, healthPath) {
  const port = await freePort();
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, "w");
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: env.PATH ?? "", ...childEnv, PORT: String(port) },
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal)));
  const proc = { name, child, exited, logFile, url: `http://127.0.0.1:${port}` };
  children.push(proc);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during start-up:\n${readFileSync(logFile, "utf8").slice(-2000)}`);
    }
    try {
      const res = await fetch(proc.url + healthPath);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${name} did not start within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return proc;
}

/** SIGTERM (lets --cpu-prof write its profile), SIGKILL after 15 s. */
async function stopChild(proc) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill("SIGTERM");
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), 15_000);
  await proc.exited;
  clearTimeout(timer);
}

function cannon(url, body, headers, duration) {
  return autocannon({
    url,
    method: "POST",
    connections: CONNECTIONS,
    pipelining: 1,
    duration,
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100 on Linux)
  } catch {
    return NaN;
  }
}

/** Redis CPU seconds (used_cpu_user + used_cpu_sys) from INFO cpu. */
async function redisCpuSeconds(redis) {
  const info = await redis.info("cpu");
  const get = (k) => Number(new RegExp(`^${k}:([0-9.]+)`, "m").exec(info)?.[1] ?? NaN);
  return get("used_cpu_user") + get("used_cpu_sys");
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (n, digits = 0) => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main() {
  const redis = new Redis(REDIS_URL);
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${DB_NAME}`);
  const dbUrl = new URL(PG_ADMIN_URL);
  dbUrl.pathname = `/${DB_NAME}`;

  const cleanup = async () => {
    for (const p of children) await stopChild(p).catch(() => {});
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `bench:ingest:${suffix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
    redis.disconnect();
    await admin.unsafe(`drop database if exists ${DB_NAME} with (force)`).catch(() => {});
    await admin.end();
  };
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    for (const p of children) p.child.kill("SIGKILL");
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  let allMet = true;
  try {
    const gateway = await startChild(
      "gateway",
      [...GATEWAY_NODE_ARGS, "dist/server.js"],
      {
        HOST: "127.0.0.1",
        REDIS_URL,
        DATABASE_URL: dbUrl.toString(),
        BRAIN_STREAM: GATEWAY_STREAM,
        BRAIN_API_TOKENS: `${TOKEN}=admin+publish`,
        LOG_LEVEL: LOG_LEVEL,
        ...GATEWAY_ENV,
      },
      "/health/live",
    );
    const baseline = await startChild(
      "baseline",
      [...BASELINE_NODE_ARGS, "bench/baseline-ingest.js"],
      { REDIS_URL, BENCH_STREAM: BASELINE_STREAM },
      "/health",
    );

    const targets = {
      gateway: { proc: gateway, stream: GATEWAY_STREAM, headers: { authorization: `Bearer ${TOKEN}` }, single: "/v1/events", batch: "/v1/events/batch" },
      baseline: { proc: baseline, stream: BASELINE_STREAM, headers: {}, single: "/events", batch: "/events/batch" },
    };

    // Sanity: both answer 202 and append, and the gateway validates (a bad envelope is refused).
    for (const [name, t] of Object.entries(targets)) {
      const res = await fetch(t.proc.url + t.single, { method: "POST", headers: { "content-type": "application/json", ...t.headers }, body: SINGLE_BODY });
      if (res.status !== 202) throw new Error(`${name} answered ${res.status}: ${await res.text()}`);
    }
    const bad = await fetch(gateway.url + "/v1/events", {
      method: "POST",
      headers: { "content-type": "application/json", ...targets.gateway.headers },
      body: JSON.stringify({ ...envelope(0), meta: {} }),
    });
    if (bad.status !== 400) throw new Error(`gateway accepted an invalid envelope (${bad.status})`);

    const started = new Date();
    console.log(`# ingest benchmark  ${started.toISOString()}`);
    console.log(
      `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}; ` +
        `${CONNECTIONS} connections, ${WARMUP} s warm-up, ${ROUNDS} rounds × ${DURATION} s per server and scenario; gateway LOG_LEVEL=${LOG_LEVEL}` +
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
        const redisCpu = (await redisCpuSeconds(redis)) - redisCpu0;
        const ok = r["2xx"];
        const appended = await redis.xlen(t.stream);
        await redis.unlink(t.stream);
        const bad = r.non2xx + r.errors + r.timeouts;
        if (bad > 0) {
          const codes = Object.entries(r.statusCodeStats ?? {}).map(([code, { count }]) => `${code}×${count}`).join(" ");
          console.log(`  ! ${name}: ${r.non2xx} non-2xx (${codes}), ${r.errors} errors, ${r.timeouts} timeouts`);
        }
        if (ok * perRequest > appended) console.log(`  ! ${name}: ${ok} accepted requests but only ${appended} stream entries`);
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
        };
      };
      console.log(`## ${scenario}${scenario === "batch" ? ` (${BATCH_SIZE} events per request)` : ""}`);
      await run("baseline", WARMUP);
      await run("gateway", WARMUP);
      const rows = { gateway: [], baseline: [] };
      const ratios = [];
      for (let round = 0; round < ROUNDS && !interrupted; round++) {
        const order = round % 2 === 0 ? ["baseline", "gateway"] : ["gateway", "baseline"];
        const res = {};
        for (const name of order) {
          await new Promise((r) => setTimeout(r, 500));
          res[name] = await run(name, DURATION);
          rows[name].push(res[name]);
        }
        ratios.push(res.gateway.events / res.baseline.events);
        const line = (n) =>
          `${n} ${fmt(res[n].reqs)} req/s ${fmt(res[n].events)} ev/s p50 ${res[n].p50} ms p99 ${res[n].p99} ms ` +
          `cpu/req ${fmt(res[n].cpuUs)} µs (redis ${fmt(res[n].redisCpuUs)} µs)`;
        console.log(`  round ${round + 1}: ${line("baseline")} | ${line("gateway")} | ratio ${ratios.at(-1).toFixed(3)}`);
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
        };
      };
      const g = agg("gateway");
      const b = agg("baseline");
      const ratio = median(ratios);
      const target = TARGETS[scenario];
      const met = ratio >= target.ratio && (target.p99Ms === undefined || g.p99 < target.p99Ms) && g.bad === 0;
      allMet &&= met;
      summary.push({ scenario, g, b, ratio, target, met });
    }

    console.log("\n| scenario | server | req/s | events/s | p50 ms | p99 ms (median / worst) | server CPU µs/req | Redis CPU µs/req | non-2xx+errors |");
    console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const { scenario, g, b } of summary) {
      for (const [name, x] of [["baseline", b], ["gateway", g]]) {
        console.log(
          `| ${scenario} | ${name} | ${fmt(x.reqs)} | ${fmt(x.events)} | ${x.p50} | ${x.p99} / ${x.worstP99} | ${fmt(x.cpuUs)} | ${fmt(x.redisCpuUs)} | ${x.bad} |`,
        );
      }
    }
    console.log("");
    for (const { scenario, g, ratio, target, met } of summary) {
      const p99 = target.p99Ms === undefined ? "" : `, gateway p99 ${g.p99} ms (target < ${target.p99Ms} ms)`;
      console.log(
        `${scenario}: gateway/baseline = ${ratio.toFixed(3)} (median of per-round ratios; target ≥ ${target.ratio})${p99} → ${met ? "MET" : "MISSED"}`,
      );
    }
  } finally {
    await cleanup();
    if (allMet) rmSync(logDir, { recursive: true, force: true });
    else console.log(`(child logs kept in ${logDir})`);
  }
  process.exitCode = allMet && !interrupted ? 0 : 1;
}

await main();
