/**
 * Fan-out benchmark (issue 12): ingest→webhook latency with many subscribers, idle CPU and Redis
 * connections with 1,000, for this build and for a baseline build in the same run.
 *
 *   npm run bench:fanout        (builds first; or: node bench/fanout.js after npm run build)
 *
 * The baseline is the gateway at BENCH_BASELINE_COMMIT (default 4138f66, before the stream
 * watcher), exported with `git archive` into BENCH_BASELINE_DIR (default
 * /tmp/brain-baseline-<commit>) and built there once, with this checkout's node_modules. Each build
 * runs the same three scenarios on its own gateway process, database and stream:
 *   spread  100 subscribers, each on its own event type; 1,000 events/s round-robin over the
 *           types (1,000 deliveries/s). Target p99 < 20 ms.
 *   fanout  20 subscribers on one type; 250 events/s (5,000 deliveries/s). Target p99 < 100 ms.
 *   idle    880 more subscribers (1,000 in all), no traffic: the gateway's CPU over
 *           BENCH_IDLE_SECONDS, and its Redis connections (its sockets to Redis's port, /proc).
 *           Target < 5 % of a core.
 * Events are sent as POST /v1/events/batch, batches of 10 on a fixed schedule, each carrying its
 * send time; latency = arrival at the receiver (in this process) − send time, the first second
 * left out. Every delivery is counted per subscriber and event: a missing or repeated one fails.
 *
 * Env (all optional): BENCH_SECONDS=10 BENCH_IDLE_SECONDS=10 BENCH_SPREAD_RATE=1000
 *   BENCH_FANOUT_RATE=250 (events/s; the targets hold for the defaults) BENCH_BASELINE_COMMIT=4138f66
 *   BENCH_BASELINE_DIR=… BENCH_LOG_LEVEL=info BENCH_GATEWAY_ENV="K=V" (both builds)
 * Exit code 0 when every target of this build is met.
 */
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { Pool } from "undici";
import { BenchRun, cpuSeconds, DELIVERY_ENV, env, envelope, fmt, percentile, REDIS_URL, ROOT, sleep } from "./lib.js";

const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const IDLE_SECONDS = Number(env.BENCH_IDLE_SECONDS ?? 10);
const COMMIT = env.BENCH_BASELINE_COMMIT ?? "4138f66";
const BASE_DIR = env.BENCH_BASELINE_DIR ?? `/tmp/brain-baseline-${COMMIT}`;
const WARMUP_S = 1;
const BATCH = 10;
const SCENARIOS = [
  { name: "spread", subscribers: 100, typesPerSub: true, rate: Number(env.BENCH_SPREAD_RATE ?? 1000), targetP99: 20 },
  { name: "fanout", subscribers: 20, typesPerSub: false, rate: Number(env.BENCH_FANOUT_RATE ?? 250), targetP99: 100 },
];
const IDLE_TOTAL = 1000;
const TARGET_IDLE_CPU = 0.05;

const now = () => performance.timeOrigin + performance.now();

/** Exports and builds the baseline commit once; returns its directory. */
function baselineDir() {
  const modules = join(BASE_DIR, "node_modules");
  const built = existsSync(join(BASE_DIR, "dist/server.js"));
  if (!built) {
    mkdirSync(BASE_DIR, { recursive: true });
    execFileSync("sh", ["-c", `git -C "${ROOT}" archive ${COMMIT} | tar -x -C "${BASE_DIR}"`]);
  }
  // A link left by an earlier run may point to a checkout that is gone: link this one's.
  if (!existsSync(modules)) {
    rmSync(modules, { force: true });
    symlinkSync(join(ROOT, "node_modules"), modules);
  }
  if (!built)
    execFileSync(join(ROOT, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json"], {
      cwd: BASE_DIR,
      stdio: "inherit",
    });
  return BASE_DIR;
}

/** Local ports of `pid`'s TCP sockets connected to `port` (Linux /proc). */
function socketsTo(pid, port) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  let n = 0;
  for (const table of ["tcp", "tcp6"]) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length >= 10 && inodes.has(cols[9]) && parseInt(cols[2].split(":")[1], 16) === port) n++;
    }
  }
  return n;
}

/** Arrivals per receiver path: unique events with their latency, and repeats. */
function startReceiver() {
  const paths = new Map();
  const server = createServer((req, res) => {
    const at = now();
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(200, { "content-length": "0" }).end();
      const seen = paths.get(req.url);
      if (seen === undefined) return;
      const id = req.headers["webhook-id"];
      if (seen.has(id)) seen.repeats++;
      else {
        const sentAt = JSON.parse(Buffer.concat(chunks).toString()).payload.sent_at;
        // The stream id's millisecond part is the XADD's time: it splits off the ingest hop.
        seen.set(id, [sentAt, at - sentAt, at - Number(id.slice(0, id.indexOf("-")))]);
      }
    });
  });
  server.keepAliveTimeout = 120_000;
  server.listen(0, "127.0.0.1");
  return once(server, "listening").then(() => ({
    base: `http://127.0.0.1:${server.address().port}`,
    /** Starts recording `path`: a Map webhook-id → [send time, latency ms, from XADD ms], with `repeats`. */
    track(path) {
      const m = Object.assign(new Map(), { repeats: 0 });
      paths.set(path, m);
      return m;
    },
    close: () => (server.closeAllConnections(), server.close()),
  }));
}

/** One build's gateway and the scenarios against it. */
async function measure(label, dir, receiver) {
  const run = new BenchRun(`fanout-${label}`);
  const dbUrl = await run.createDatabase();
  const { gateway: proc, url } = await run.startGateway(dbUrl, `${run.keyPrefix}:s`, {
    env: DELIVERY_ENV,
    name: `gateway-${label}`,
    dir,
  });
  const pool = new Pool(url, { connections: 16 });
  const call = async (path, body) => {
    const res = await pool.request({
      method: "POST",
      path,
      headers: { authorization: `Bearer ${run.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${label} ${path}: ${res.statusCode} ${text}`);
  };
  const subscribe = async (names, typeOf) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < names.length) {
          const name = names[next++];
          await call("/v1/subscribers", {
            name,
            url: `${receiver.base}/${label}/${name}`,
            event_types: [typeOf(name)],
          });
        }
      }),
    );
  };
  const result = { label };
  let allMet = false;
  try {
    for (const s of SCENARIOS) {
      const names = Array.from({ length: s.subscribers }, (_, i) => `${s.name}-${i}`);
      const typeOf = (name) => (s.typesPerSub ? `bench.${name}` : `bench.${s.name}`);
      await subscribe(names, typeOf);
      const seen = names.map((n) => receiver.track(`/${label}/${n}`));
      const types = [...new Set(names.map(typeOf))];
      // One probe per type: every consumer is up before the clock starts.
      const probeAt = now();
      await call("/v1/events/batch", { events: types.map((type) => ({ ...envelope({ sent_at: probeAt }), type })) });
      while (seen.some((m) => m.size === 0)) await sleep(20);
      for (const m of seen) m.clear();
      const sent = [];
      const cpuFrom = cpuSeconds(proc.child.pid);
      const batches = Math.round((s.rate * SECONDS) / BATCH);
      const start = now();
      let k = 0;
      for (let b = 0; b < batches; b++) {
        const due = start + (b * 1000 * BATCH) / s.rate;
        const wait = due - now();
        if (wait > 0) await sleep(wait);
        const sentAt = now();
        const events = Array.from({ length: BATCH }, () => ({
          ...envelope({ sent_at: sentAt }),
          type: types[k++ % types.length],
        }));
        sent.push(call("/v1/events/batch", { events }));
      }
      await Promise.all(sent);
      // Spread: each event goes to the one subscriber of its type; fan-out: to all of them.
      const expected = batches * BATCH * (s.typesPerSub ? 1 : s.subscribers);
      const total = () => seen.reduce((n, m) => n + m.size, 0);
      const deadline = Date.now() + 60_000;
      while (total() < expected && Date.now() < deadline) await sleep(50);
      const cpu = (cpuSeconds(proc.child.pid) - cpuFrom) / ((now() - start) / 1000);
      await sleep(500); // late repeats
      const warmedUp = start + WARMUP_S * 1000;
      const kept = seen.flatMap((m) => [...m.values()]).filter(([sentAt]) => sentAt >= warmedUp);
      const warm = kept.map(([, ms]) => ms).sort((a, b) => a - b);
      const fromXadd = kept.map(([, , ms]) => ms).sort((a, b) => a - b);
      result[s.name] = {
        delivered: total(),
        expected,
        repeats: seen.reduce((n, m) => n + m.repeats, 0),
        p50: percentile(warm, 50),
        p99: percentile(warm, 99),
        p999: percentile(warm, 99.9),
        max: warm.at(-1),
        cpu,
        xaddP50: percentile(fromXadd, 50),
        xaddP99: percentile(fromXadd, 99),
        target: s.targetP99,
      };
    }
    const idle = Array.from(
      { length: IDLE_TOTAL - SCENARIOS.reduce((n, s) => n + s.subscribers, 0) },
      (_, i) => `idle-${i}`,
    );
    await subscribe(idle, (name) => `bench.${name}`);
    await sleep(3000);
    const cpu0 = cpuSeconds(proc.child.pid);
    const t0 = Date.now();
    await sleep(IDLE_SECONDS * 1000);
    result.idleCpu = (cpuSeconds(proc.child.pid) - cpu0) / ((Date.now() - t0) / 1000);
    result.connections = socketsTo(proc.child.pid, Number(new URL(REDIS_URL).port || 6379));
    allMet = true;
  } finally {
    await pool.close();
    await run.cleanup(allMet);
  }
  return result;
}

async function main() {
  const base = baselineDir();
  const receiver = await startReceiver();
  let current;
  let baseline;
  try {
    current = await measure("current", ROOT, receiver);
    baseline = await measure("baseline", base, receiver);
  } finally {
    receiver.close();
  }
  const row = (r, s) => {
    const x = r[s];
    const ms = (v) => `${fmt(v, 1)} ms`;
    return (
      `${r.label.padEnd(9)} p50 ${ms(x.p50)}  p99 ${ms(x.p99)}  p99.9 ${ms(x.p999)}  max ${ms(x.max)}  ` +
      `delivered ${x.delivered}/${x.expected}  repeats ${x.repeats}  ` +
      `(from XADD: p50 ${ms(x.xaddP50)}, p99 ${ms(x.xaddP99)})  gateway CPU ${fmt(x.cpu * 100)} %`
    );
  };
  let met = true;
  for (const s of SCENARIOS) {
    console.log(`\n## ${s.name}: ${s.subscribers} subscribers, ${s.rate} events/s, target p99 < ${s.targetP99} ms`);
    console.log(row(current, s.name));
    console.log(row(baseline, s.name));
    console.log(`ratio p99 baseline/current ${fmt(baseline[s.name].p99 / current[s.name].p99, 2)}×`);
    const c = current[s.name];
    met &&= c.p99 < s.targetP99 && c.delivered === c.expected && c.repeats === 0;
  }
  console.log(`\n## idle: ${IDLE_TOTAL} subscribers, ${IDLE_SECONDS} s, target < ${TARGET_IDLE_CPU * 100} % of a core`);
  for (const r of [current, baseline])
    console.log(`${r.label.padEnd(9)} CPU ${fmt(r.idleCpu * 100, 1)} % of a core  Redis connections ${r.connections}`);
  console.log(`ratio CPU baseline/current ${fmt(baseline.idleCpu / current.idleCpu, 1)}×`);
  met &&= current.idleCpu < TARGET_IDLE_CPU;
  console.log(met ? "\nall targets met" : "\nTARGET MISSED");
  process.exitCode = met ? 0 : 1;
}

await main();
