/**
 * Event-type registry benchmark (issue 10): what checking a payload against its registered schema
 * costs at ingest. One gateway (`dist/server.js`) serves two kinds of request with the same
 * envelope, differing only in `type`: one whose type is registered with a realistic schema
 * (PUT /v1/event-types/{type}), one whose type is not. Target: the registered request costs at
 * most 10 % more gateway CPU than the unregistered one.
 *
 *   npm run bench:registry        (builds first; or: node bench/registry.js after npm run build)
 *
 * Scenarios (autocannon in a process of its own, bench/load.js):
 *   single  POST /v1/events with one envelope (no id: every request appends)
 *   batch   POST /v1/events/batch with BENCH_BATCH_SIZE envelopes of the one type
 *
 * Each scenario is warmed up once per kind, then measured in BENCH_ROUNDS rounds alternating which
 * kind goes first; the headline is the median of the per-round ratios of gateway CPU µs per
 * request (read from /proc), steadier than req/s on a shared box. The stream is unlinked between
 * runs so every run appends to a small stream.
 *
 * Env (all optional): BENCH_DURATION=10 BENCH_WARMUP=3 BENCH_ROUNDS=5 BENCH_CONNECTIONS=50
 *   BENCH_BATCH_SIZE=100 BENCH_SCENARIOS=single,batch BENCH_LOG_LEVEL=info BENCH_GATEWAY_ENV="K=V …"
 *   BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" REDIS_URL DATABASE_URL (admin URL)
 * Exit code 0 when the target is met in every scenario, 1 otherwise.
 */
import { cpus, loadavg } from "node:os";
import { BenchRun, cpuSeconds, env, envelope, fmt, loadProcess, LOG_LEVEL, median } from "./lib.js";

const DURATION = Number(env.BENCH_DURATION ?? 10);
const WARMUP = Number(env.BENCH_WARMUP ?? 3);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 5);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
const BATCH_SIZE = Number(env.BENCH_BATCH_SIZE ?? 100);
const SCENARIOS = (env.BENCH_SCENARIOS ?? "single,batch").split(",").map((s) => s.trim());
const TARGET = 1.1;

const REGISTERED = "mission.created";
const UNREGISTERED = "mission.unregistered";

/** The payload of lib.js's envelope, as a producer would pin it down. */
const SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  required: ["mission_id", "title", "priority", "requested_by"],
  properties: {
    mission_id: { type: "string", minLength: 1, maxLength: 255, pattern: "^m-[0-9]+$" },
    title: { type: "string", maxLength: 1000 },
    priority: { type: "integer", minimum: 0, maximum: 5 },
    tags: { type: "array", items: { type: "string", maxLength: 64 }, maxItems: 20, uniqueItems: true },
    requested_by: {
      type: "object",
      required: ["user_id"],
      properties: { user_id: { type: "string", minLength: 1 }, team: { type: "string" } },
      additionalProperties: false,
    },
    params: {
      type: "object",
      properties: {
        max_duration_s: { type: "integer", minimum: 1 },
        retries: { type: "integer", minimum: 0, maximum: 10 },
        dry_run: { type: "boolean" },
      },
    },
    seq: { type: "integer", minimum: 0 },
  },
  additionalProperties: false,
};

const run = new BenchRun("registry");
const STREAM = `${run.keyPrefix}:stream`;

const bodies = (type) => ({
  single: JSON.stringify({ ...envelope(), type }),
  batch: JSON.stringify({ events: Array.from({ length: BATCH_SIZE }, (_, i) => ({ ...envelope({ seq: i }), type })) }),
});
const BODIES = { registered: bodies(REGISTERED), unregistered: bodies(UNREGISTERED) };
const PATHS = { single: "/v1/events", batch: "/v1/events/batch" };

async function main() {
  const { redis } = run;
  const dbUrl = await run.createDatabase();
  let allMet = true;
  try {
    const { gateway, url } = await run.startGateway(dbUrl, STREAM, { env: { BRAIN_ROLE: "api" } });
    const headers = { "content-type": "application/json", authorization: `Bearer ${run.token}` };
    // A gateway just started may still shed load (its event loop was busy starting): retry 503s a while.
    const request = async (method, path, body) => {
      for (let i = 0; ; i++) {
        const res = await fetch(url + path, { method, headers, body });
        if (res.status !== 503 || i === 50) return res;
        await res.arrayBuffer();
        await new Promise((r) => setTimeout(r, 200));
      }
    };

    const put = await request(
      "PUT",
      `/v1/event-types/${REGISTERED}`,
      JSON.stringify({ description: "", schema: SCHEMA }),
    );
    if (put.status !== 201) throw new Error(`registering answered ${put.status}: ${await put.text()}`);
    // Sanity: both kinds are accepted, and the registered one is really checked.
    for (const kind of ["registered", "unregistered"]) {
      const res = await request("POST", PATHS.single, BODIES[kind].single);
      if (res.status !== 202) throw new Error(`${kind} answered ${res.status}: ${await res.text()}`);
    }
    const misShaped = { ...envelope(), type: REGISTERED };
    misShaped.payload = { ...misShaped.payload, priority: "high" };
    const bad = await request("POST", PATHS.single, JSON.stringify(misShaped));
    const badBody = await bad.json();
    if (bad.status !== 400 || badBody.code !== "PAYLOAD_SCHEMA_MISMATCH") {
      throw new Error(`a mis-shaped payload answered ${bad.status} ${badBody.code}`);
    }

    console.log(`# registry benchmark  ${new Date().toISOString()}`);
    console.log(
      `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}; ${CONNECTIONS} connections, ${WARMUP} s warm-up, ${ROUNDS} rounds × ${DURATION} s per kind ` +
        `and scenario; gateway LOG_LEVEL=${LOG_LEVEL}${env.BENCH_GATEWAY_ENV ? ` ${env.BENCH_GATEWAY_ENV}` : ""}`,
    );
    console.log(`schema ${JSON.stringify(SCHEMA).length} B; single body ${BODIES.registered.single.length} B\n`);

    const summary = [];
    for (const scenario of SCENARIOS) {
      const measure = async (kind, duration) => {
        await redis.unlink(STREAM);
        const cpu0 = cpuSeconds(gateway.child.pid);
        const r = await loadProcess({
          url: url + PATHS[scenario],
          method: "POST",
          connections: CONNECTIONS,
          pipelining: 1,
          duration,
          headers,
          body: BODIES[kind][scenario],
        });
        const cpu = cpuSeconds(gateway.child.pid) - cpu0;
        const bad = r.non2xx + r.errors + r.timeouts;
        if (bad > 0) console.log(`  ! ${kind}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
        return { reqs: r["2xx"] / r.duration, cpuUs: (cpu * 1e6) / (r.requests.total || 1), p99: r.latency.p99, bad };
      };
      console.log(`## ${scenario}${scenario === "batch" ? ` (${BATCH_SIZE} events per request)` : ""}`);
      await measure("unregistered", WARMUP);
      await measure("registered", WARMUP);
      const rows = { registered: [], unregistered: [] };
      const ratios = [];
      for (let round = 0; round < ROUNDS && !run.interrupted; round++) {
        const order = round % 2 === 0 ? ["unregistered", "registered"] : ["registered", "unregistered"];
        const res = {};
        for (const kind of order) {
          await new Promise((r) => setTimeout(r, 500));
          res[kind] = await measure(kind, DURATION);
          rows[kind].push(res[kind]);
        }
        ratios.push(res.registered.cpuUs / res.unregistered.cpuUs);
        const line = (k) => `${k} ${fmt(res[k].reqs)} req/s cpu/req ${fmt(res[k].cpuUs)} µs p99 ${res[k].p99} ms`;
        console.log(
          `  round ${round + 1}: ${line("unregistered")} | ${line("registered")} | ratio ${ratios.at(-1).toFixed(3)}`,
        );
      }
      const agg = (kind) => ({
        reqs: median(rows[kind].map((r) => r.reqs)),
        cpuUs: median(rows[kind].map((r) => r.cpuUs)),
        bad: rows[kind].reduce((a, r) => a + r.bad, 0),
      });
      const ratio = median(ratios);
      const [r, u] = [agg("registered"), agg("unregistered")];
      const met = ratio <= TARGET && r.bad === 0 && u.bad === 0;
      allMet &&= met;
      summary.push({ scenario, r, u, ratio, ratios, met });
    }

    console.log("\n| scenario | kind | req/s | gateway CPU µs/req | non-2xx+errors |");
    console.log("|---|---|---:|---:|---:|");
    for (const { scenario, r, u } of summary) {
      console.log(`| ${scenario} | unregistered | ${fmt(u.reqs)} | ${fmt(u.cpuUs)} | ${u.bad} |`);
      console.log(`| ${scenario} | registered | ${fmt(r.reqs)} | ${fmt(r.cpuUs)} | ${r.bad} |`);
    }
    console.log("");
    for (const { scenario, ratio, ratios, met } of summary) {
      console.log(
        `${scenario}: registered/unregistered CPU per request = ${ratio.toFixed(3)} ` +
          `(rounds ${ratios.map((x) => x.toFixed(3)).join(", ")}; target ≤ ${TARGET}) → ${met ? "MET" : "MISSED"}`,
      );
    }
  } finally {
    await run.cleanup(allMet);
  }
  process.exitCode = allMet && !run.interrupted ? 0 : 1;
}

await main();
