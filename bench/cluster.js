/**
 * Redis Cluster benchmark (issue 11): the gateway on standalone Redis (REDIS_URL, default
 * 127.0.0.1:6379, one partition) against the same gateway on a local Redis Cluster of 3 masters
 * and 3 replicas (redis-server processes started here, as test/helpers/redis-cluster.ts does) with
 * 16 partitions, in one run, on the same machine and Postgres.
 *
 *   npm run build && node bench/cluster.js
 *
 * Both gateways (`dist/server.js` with npm start's node flags) run as child processes for the
 * whole run, each with its own database and stream. Every scenario is warmed up once per target,
 * then measured in BENCH_ROUNDS rounds, alternating which target goes first; the headline ratio
 * (cluster / standalone, events/s) is the median of the per-round ratios.
 *
 *   single    POST /v1/events, one envelope without id (autocannon, BENCH_CONNECTIONS connections)
 *   batch     POST /v1/events/batch with BENCH_BATCH_SIZE envelopes (spanning all 16 partitions)
 *   deliver   BENCH_EVENTS events appended (batches of 500), then a subscriber from `earliest`
 *             (max_in_flight BENCH_CONCURRENCY) delivers them to a receiver in this process;
 *             events/s = unique ids / (last arrival − first arrival)
 *
 * Also measured: the cluster's ingest per shard (entries appended per master, from XLEN of each
 * partition, per second), Redis CPU per event (all nodes of the cluster, replicas included: they
 * share the box's cores), and each gateway's TCP connections to Redis (`ss -tnp`), idle and while
 * a subscriber is delivering.
 *
 * Env (all optional):
 *   BENCH_DURATION=10 BENCH_WARMUP=3 BENCH_ROUNDS=3 BENCH_CONNECTIONS=50 BENCH_BATCH_SIZE=100
 *   BENCH_EVENTS=20000 BENCH_CONCURRENCY=32 BENCH_SCENARIOS=single,batch,deliver
 *   BENCH_TARGETS=standalone,cluster   (add cluster-r1: the cluster with BRAIN_REDIS_MIN_REPLICAS=1)
 *   BENCH_PARTITIONS=16  BENCH_LOG_LEVEL=info  BENCH_GATEWAY_ENV="K=V …"  BENCH_GATEWAY_NODE_ARGS=…
 *   REDIS_URL=redis://127.0.0.1:6379  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (admin URL)
 *
 * Both gateways run with BRAIN_MAX_EVENT_LOOP_DELAY_MS=0 (load shedding would refuse batches on
 * this box, bench/RESULTS.md "Load shedding") and BRAIN_WEBHOOK_ALLOW_PRIVATE=true (the receiver
 * is on 127.0.0.1). Exit code 0 when every ratio is ≥ 0.8, 1 otherwise.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import calculateSlot from "cluster-key-slot";
import { Cluster, Redis } from "ioredis";
import { Pool } from "undici";
import { partitionTag } from "../dist/stream/keys.js";
import {
  BenchRun,
  cpuSeconds,
  DELIVERY_ENV,
  env,
  envelope,
  fmt,
  freePort,
  LOG_LEVEL,
  median,
  PG_ADMIN_URL,
  REDIS_URL,
  redisCpuSeconds,
  sleep,
  untilCount,
} from "./lib.js";

const DURATION = Number(env.BENCH_DURATION ?? 10);
const WARMUP = Number(env.BENCH_WARMUP ?? 3);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 50);
const BATCH_SIZE = Number(env.BENCH_BATCH_SIZE ?? 100);
const EVENTS = Number(env.BENCH_EVENTS ?? 20_000);
const CONCURRENCY = Number(env.BENCH_CONCURRENCY ?? 32);
const PARTITIONS = Number(env.BENCH_PARTITIONS ?? 16);
const SCENARIOS = (env.BENCH_SCENARIOS ?? "single,batch,deliver").split(",").map((s) => s.trim());
const TARGET_NAMES = (env.BENCH_TARGETS ?? "standalone,cluster").split(",").map((s) => s.trim());
const TARGET_RATIO = 0.8;
const HOST = "127.0.0.1";
/** Events per POST /v1/events/batch while preloading (the gateway's default BRAIN_MAX_BATCH). */
const PRELOAD_BATCH = 500;
/** A delivery run fails when the receiver sees no new event for this long. */
const STALL_MS = 30_000;

const run = new BenchRun("cluster");

// ---------------------------------------------------------------------------------------------
// A local Redis Cluster: 6 redis-server processes, `redis-cli --cluster create … --cluster-replicas 1`

async function canListen(port) {
  const srv = createNetServer();
  srv.listen(port, HOST);
  try {
    await once(srv, "listening");
  } catch {
    return false;
  }
  srv.close();
  await once(srv, "close");
  return true;
}

/** `n` free ports whose cluster bus ports (+10000) are free too. */
async function pickPorts(n) {
  const ports = [];
  while (ports.length < n) {
    const p = await freePort();
    if (p + 10_000 > 65_535 || ports.includes(p) || ports.includes(p + 10_000)) continue;
    if (await canListen(p + 10_000)) ports.push(p);
  }
  return ports;
}

/** One admin command on one node, on a connection of its own. */
async function ask(port, ...args) {
  const r = new Redis(port, HOST, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    return await r.call(args[0], ...args.slice(1));
  } finally {
    r.disconnect();
  }
}

async function startCluster() {
  const dir = mkdtempSync(join(tmpdir(), "brain-bench-cluster-"));
  const ports = await pickPorts(6);
  for (const port of ports) {
    const logFile = join(run.logDir, `redis-${port}.log`);
    const fd = openSync(logFile, "w");
    // The flags of test/helpers/redis-cluster.ts, and no persistence, like the standalone Redis here.
    const child = spawn(
      "redis-server",
      [
        ...["--port", String(port), "--bind", HOST, "--protected-mode", "no"],
        ...["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`)],
        ...["--cluster-node-timeout", "5000", "--repl-diskless-sync-delay", "0"],
        ...["--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"],
      ],
      { stdio: ["ignore", fd, fd] },
    );
    closeSync(fd);
    const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal)));
    run.children.push({ name: `redis-${port}`, child, exited, logFile });
  }
  for (const port of ports) {
    for (let i = 0; ; i++) {
      if ((await ask(port, "PING").catch(() => "")) === "PONG") break;
      if (i > 200) throw new Error(`redis-server on ${port} does not answer PING`);
      await sleep(50);
    }
  }
  const cli = spawn(
    "redis-cli",
    ["--cluster", "create", ...ports.map((p) => `${HOST}:${p}`), "--cluster-replicas", "1", "--cluster-yes"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  cli.stdout.on("data", (d) => (out += d));
  cli.stderr.on("data", (d) => (out += d));
  const [code] = await once(cli, "close");
  if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}):\n${out}`);
  // Ready once every node says ok and every replica's link to its master is up.
  for (const deadline = Date.now() + 30_000; ; await sleep(100)) {
    const states = await Promise.all(
      ports.map(async (port) => {
        const info = String(await ask(port, "CLUSTER", "INFO").catch(() => ""));
        const role = await ask(port, "ROLE").catch(() => []);
        return info.includes("cluster_state:ok") && (role[0] === "master" || role[3] === "connected");
      }),
    );
    if (states.every(Boolean)) break;
    if (Date.now() > deadline) throw new Error("the cluster did not become ready within 30 s");
  }
  const slots = await ask(ports[0], "CLUSTER", "SLOTS");
  const masters = [...new Set(slots.map((range) => Number(range[2][1])))].sort((a, b) => a - b);
  /** The master port serving `slot`. */
  const masterOf = (slot) => Number(slots.find(([lo, hi]) => lo <= slot && slot <= hi)[2][1]);
  const client = new Cluster(
    ports.map((port) => ({ host: HOST, port })),
    { lazyConnect: true },
  );
  client.on("error", () => {});
  await client.connect();
  return {
    dir,
    ports,
    masters,
    masterOf,
    client,
    seeds: ports.map((p) => `redis://${HOST}:${p}`).join(","),
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring helpers

/** TCP connections of process `pid` to each of `ports` (`ss -tnp`: our own children only). */
async function connectionsOf(pid, ports) {
  const out = await new Promise((resolve, reject) =>
    execFile("ss", ["-tnpH", "state", "established"], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  const counts = Object.fromEntries(ports.map((p) => [p, 0]));
  for (const line of out.split("\n")) {
    if (!line.includes(`pid=${pid},`)) continue;
    const peer = Number(line.trim().split(/\s+/)[3]?.split(":").pop());
    if (peer in counts) counts[peer]++;
  }
  return counts;
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

/** Arrivals on one receiver path: unique ids (webhook-id) and the first and last arrival. */
class Bucket {
  ids = new Set();
  requests = 0;
  first = NaN;
  last = NaN;

  record(id, at) {
    this.requests++;
    if (this.ids.has(id)) return;
    this.ids.add(id);
    if (this.ids.size === 1) this.first = at;
    this.last = at;
  }

  until(n, what) {
    return untilCount(() => this.ids.size, n, what, STALL_MS);
  }
}

async function startReceiver() {
  const buckets = new Map();
  const server = createHttpServer((req, res) => {
    const at = performance.now();
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-length": "0" }).end();
      buckets.get(req.url)?.record(req.headers["webhook-id"], at);
    });
  });
  server.keepAliveTimeout = 120_000;
  server.listen(0, HOST);
  await once(server, "listening");
  const base = `http://${HOST}:${server.address().port}`;
  return {
    bucket(path) {
      const b = new Bucket();
      buckets.set(path, b);
      return [b, base + path];
    },
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const extraDbs = [];
  const targets = {};
  let cluster = null;
  let receiver = null;
  const pools = [];
  let allMet = false;
  try {
    cluster = await startCluster();
    receiver = await startReceiver();

    const createDatabase = async (name) => {
      if (name === TARGET_NAMES[0]) return run.createDatabase();
      const db = `${run.dbName}_${name.replace(/\W/g, "_")}`;
      await run.admin.unsafe(`create database ${db}`);
      extraDbs.push(db);
      const url = new URL(PG_ADMIN_URL);
      url.pathname = `/${db}`;
      return url.toString();
    };

    for (const name of TARGET_NAMES) {
      const onCluster = name.startsWith("cluster");
      const stream = `${run.keyPrefix}:${name}`;
      const partitions = onCluster ? PARTITIONS : 1;
      const { gateway: proc, url } = await run.startGateway(await createDatabase(name), stream, {
        name: `gateway-${name}`,
        host: HOST,
        env: {
          ...DELIVERY_ENV,
          ...(onCluster
            ? {
                REDIS_URL: cluster.seeds,
                BRAIN_REDIS_MODE: "cluster",
                BRAIN_STREAM_PARTITIONS: String(PARTITIONS),
                BRAIN_REDIS_MIN_REPLICAS: name === "cluster-r1" ? "1" : "0",
              }
            : {}),
        },
      });
      const keys = onCluster
        ? Array.from({ length: partitions }, (_, i) => partitionTag(stream, i, partitions))
        : [stream];
      const redis = onCluster ? cluster.client : run.redis;
      const pool = new Pool(url, { connections: 8 });
      pools.push(pool);
      targets[name] = {
        name,
        proc,
        url,
        keys,
        redis,
        onCluster,
        redisPorts: onCluster ? cluster.ports : [Number(new URL(REDIS_URL).port || 6379)],
        /** Redis CPU seconds so far: every node of the cluster (replicas replicate what is written). */
        redisCpu: onCluster
          ? async () => {
              let total = 0;
              const perMaster = {};
              for (const port of cluster.ports) {
                const info = String(await ask(port, "INFO", "cpu"));
                const get = (k) => Number(new RegExp(`^${k}:([0-9.]+)`, "m").exec(info)?.[1] ?? NaN);
                const s = get("used_cpu_user") + get("used_cpu_sys");
                total += s;
                if (cluster.masters.includes(port)) perMaster[port] = s;
              }
              return { total, perMaster };
            }
          : async () => ({ total: await redisCpuSeconds(run.redis), perMaster: {} }),
        async reset() {
          for (const key of keys) await redis.unlink(key);
        },
        async appended() {
          const perMaster = {};
          let total = 0;
          for (const key of keys) {
            const n = await redis.xlen(key);
            total += n;
            if (onCluster) {
              const m = cluster.masterOf(calculateSlot(key));
              perMaster[m] = (perMaster[m] ?? 0) + n;
            }
          }
          return { total, perMaster };
        },
        async call(method, path, body) {
          const res = await pool.request({
            method,
            path,
            headers: {
              authorization: `Bearer ${run.token}`,
              ...(body ? { "content-type": "application/json" } : {}),
            },
            body: body ? JSON.stringify(body) : undefined,
          });
          const text = await res.body.text();
          return { status: res.statusCode, body: text ? JSON.parse(text) : null };
        },
      };
    }

    const single = JSON.stringify(envelope());
    const batch = JSON.stringify({ events: Array.from({ length: BATCH_SIZE }, (_, i) => envelope({ seq: i })) });
    for (const t of Object.values(targets)) {
      const res = await t.call("POST", "/v1/events", JSON.parse(single));
      if (res.status !== 202) throw new Error(`${t.name} answered ${res.status}: ${JSON.stringify(res.body)}`);
      const id = res.body.stream_message_id;
      if (t.onCluster !== /^\d+:/.test(id)) throw new Error(`${t.name}: unexpected stream id ${id}`);
    }

    const idle = {};
    for (const t of Object.values(targets)) idle[t.name] = await connectionsOf(t.proc.child.pid, t.redisPorts);
    // What the Redis processes cost with nothing to do (cron, cluster bus, replication pings): they
    // share the box's 2 cores with the gateway and the load generator.
    const idleCpu = {};
    {
      const onCluster = Object.values(targets).find((t) => t.onCluster);
      const standalone0 = await redisCpuSeconds(run.redis);
      const cluster0 = await onCluster?.redisCpu();
      await sleep(5000);
      idleCpu.standalone = ((await redisCpuSeconds(run.redis)) - standalone0) / 5;
      if (onCluster) idleCpu.cluster = ((await onCluster.redisCpu()).total - cluster0.total) / 5;
    }

    console.log(`# Redis Cluster benchmark  ${new Date().toISOString()}`);
    console.log(
      `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}; targets ${TARGET_NAMES.join(", ")}; cluster: 3 masters ${cluster.masters.join(", ")} + ` +
        `3 replicas, ${PARTITIONS} partitions; ${CONNECTIONS} connections, ${WARMUP} s warm-up, ${ROUNDS} rounds × ` +
        `${DURATION} s; batch ${BATCH_SIZE} events; deliver ${EVENTS} events, max_in_flight ${CONCURRENCY}; ` +
        `gateway LOG_LEVEL=${LOG_LEVEL}${env.BENCH_GATEWAY_ENV ? ` ${env.BENCH_GATEWAY_ENV}` : ""}`,
    );

    const ingest = async (t, scenario, duration) => {
      await t.reset();
      const body = scenario === "single" ? single : batch;
      const perRequest = scenario === "single" ? 1 : BATCH_SIZE;
      const path = scenario === "single" ? "/v1/events" : "/v1/events/batch";
      const cpu0 = cpuSeconds(t.proc.child.pid);
      const redis0 = await t.redisCpu();
      const r = await cannon(t.url + path, body, { authorization: `Bearer ${run.token}` }, duration);
      const cpu = cpuSeconds(t.proc.child.pid) - cpu0;
      const redis1 = await t.redisCpu();
      const appended = await t.appended();
      await t.reset();
      const events = r["2xx"] * perRequest;
      const bad = r.non2xx + r.errors + r.timeouts;
      if (bad > 0) console.log(`  ! ${t.name}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
      if (events > appended.total) console.log(`  ! ${t.name}: ${events} accepted but ${appended.total} appended`);
      return {
        events: events / r.duration,
        p50: r.latency.p50,
        p99: r.latency.p99,
        bad,
        cpuUs: (cpu * 1e6) / Math.max(1, events),
        redisUs: ((redis1.total - redis0.total) * 1e6) / Math.max(1, events),
        perShard: Object.fromEntries(Object.entries(appended.perMaster).map(([m, n]) => [m, n / r.duration])),
        shardCpu: Object.fromEntries(
          Object.entries(redis1.perMaster).map(([m, s]) => [m, (s - redis0.perMaster[m]) / r.duration]),
        ),
      };
    };

    const during = {};
    const deliver = async (t, round) => {
      await t.reset();
      for (let i = 0; i < EVENTS; i += PRELOAD_BATCH) {
        const events = Array.from({ length: Math.min(PRELOAD_BATCH, EVENTS - i) }, (_, j) => envelope({ seq: i + j }));
        const res = await t.call("POST", "/v1/events/batch", { events });
        if (res.status !== 202) throw new Error(`${t.name} preload: ${res.status} ${JSON.stringify(res.body)}`);
      }
      const name = `bench-${round}`;
      const [bucket, url] = receiver.bucket(`/${t.name}/${round}`);
      const cpu0 = cpuSeconds(t.proc.child.pid);
      const res = await t.call("POST", "/v1/subscribers", {
        name,
        url,
        event_types: ["*"],
        start_from: "earliest",
        max_in_flight: CONCURRENCY,
      });
      if (res.status !== 201) throw new Error(`${t.name} subscriber: ${res.status} ${JSON.stringify(res.body)}`);
      await bucket.until(EVENTS, `${t.name} delivery round ${round + 1}`);
      const cpu = cpuSeconds(t.proc.child.pid) - cpu0;
      during[t.name] ??= await connectionsOf(t.proc.child.pid, t.redisPorts);
      const del = await t.call("DELETE", `/v1/subscribers/${name}`);
      if (del.status !== 204) throw new Error(`${t.name}: deleting the subscriber answered ${del.status}`);
      await t.reset();
      return {
        events: (bucket.ids.size * 1000) / (bucket.last - bucket.first),
        duplicates: bucket.requests - bucket.ids.size,
        cpuUs: (cpu * 1e6) / bucket.ids.size,
      };
    };

    const summary = [];
    for (const scenario of SCENARIOS) {
      console.log(`\n## ${scenario}`);
      const measure = (t, round, duration) =>
        scenario === "deliver" ? deliver(t, round) : ingest(t, scenario, duration);
      if (scenario !== "deliver") for (const t of Object.values(targets)) await measure(t, -1, WARMUP);
      const rows = Object.fromEntries(TARGET_NAMES.map((n) => [n, []]));
      const ratios = Object.fromEntries(TARGET_NAMES.slice(1).map((n) => [n, []]));
      for (let round = 0; round < ROUNDS && !run.interrupted; round++) {
        const order = round % 2 === 0 ? TARGET_NAMES : [...TARGET_NAMES].reverse();
        const res = {};
        for (const name of order) {
          await sleep(500);
          res[name] = await measure(targets[name], round, DURATION);
          rows[name].push(res[name]);
        }
        for (const n of TARGET_NAMES.slice(1)) ratios[n].push(res[n].events / res[TARGET_NAMES[0]].events);
        const line = (n) => {
          const x = res[n];
          const extra =
            scenario === "deliver"
              ? `${x.duplicates} dup`
              : `p50 ${x.p50} ms p99 ${x.p99} ms, redis ${fmt(x.redisUs, 1)} µs/ev` +
                (Object.keys(x.perShard).length > 0
                  ? ` [per shard ev/s: ${Object.entries(x.perShard)
                      .map(([m, e]) => `${m} ${fmt(e)}`)
                      .join(", ")}]`
                  : "");
          return `${n} ${fmt(x.events)} ev/s (gateway ${fmt(x.cpuUs, 1)} µs/ev, ${extra})`;
        };
        console.log(
          `  round ${round + 1}: ${TARGET_NAMES.map(line).join(" | ")} | ratio ` +
            TARGET_NAMES.slice(1)
              .map((n) => `${n} ${ratios[n].at(-1).toFixed(3)}`)
              .join(", "),
        );
      }
      summary.push({ scenario, rows, ratios });
    }

    console.log("\n| scenario | target | events/s (median) | gateway CPU µs/event | Redis CPU µs/event | p99 ms |");
    console.log("|---|---|---:|---:|---:|---:|");
    for (const { scenario, rows } of summary) {
      for (const n of TARGET_NAMES) {
        const rs = rows[n];
        const m = (k) => median(rs.map((r) => r[k]));
        const redis = scenario === "deliver" ? "–" : fmt(m("redisUs"), 1);
        const p99 = scenario === "deliver" ? "–" : m("p99");
        console.log(`| ${scenario} | ${n} | ${fmt(m("events"))} | ${fmt(m("cpuUs"), 1)} | ${redis} | ${p99} |`);
      }
    }
    for (const { scenario, rows } of summary) {
      if (scenario === "deliver") continue;
      for (const n of TARGET_NAMES.filter((x) => targets[x].onCluster)) {
        const shards = cluster.masters.map((m) => {
          const ev = median(rows[n].map((r) => r.perShard[m] ?? 0));
          const cpu = median(rows[n].map((r) => r.shardCpu[m] ?? 0));
          return `${m}: ${fmt(ev)} ev/s (Redis CPU ${fmt(cpu * 100)} %)`;
        });
        console.log(`${scenario} ${n} per shard (median): ${shards.join("; ")}`);
      }
    }
    console.log(
      `idle Redis CPU: standalone ${fmt(idleCpu.standalone * 100, 1)} % of a core` +
        (idleCpu.cluster === undefined ? "" : `, cluster (6 nodes) ${fmt(idleCpu.cluster * 100, 1)} %`),
    );
    const conn = (counts) =>
      `${Object.values(counts).reduce((a, b) => a + b, 0)} (${Object.entries(counts)
        .map(([p, c]) => `${p}: ${c}`)
        .join(", ")})`;
    for (const n of TARGET_NAMES) {
      console.log(
        `connections ${n}: idle ${conn(idle[n])}` + (during[n] ? `; with one subscriber ${conn(during[n])}` : ""),
      );
    }
    console.log("");
    allMet = true;
    for (const { scenario, ratios } of summary) {
      for (const [n, rs] of Object.entries(ratios)) {
        const ratio = median(rs);
        const met = ratio >= TARGET_RATIO;
        allMet &&= met;
        console.log(
          `${scenario}: ${n}/${TARGET_NAMES[0]} = ${ratio.toFixed(3)} ` +
            `(rounds ${rs.map((r) => r.toFixed(3)).join(", ")}; target ≥ ${TARGET_RATIO}) → ${met ? "MET" : "MISSED"}`,
        );
      }
    }
  } finally {
    receiver?.close();
    for (const pool of pools) await pool.close();
    cluster?.client.disconnect();
    // The gateways first, then the cluster's nodes (BenchRun stops its children in start order).
    for (const t of Object.values(targets)) await run.stopChild(t.proc).catch(() => {});
    for (const db of extraDbs) await run.admin.unsafe(`drop database if exists ${db} with (force)`).catch(() => {});
    await run.cleanup(allMet);
    if (cluster) rmSync(cluster.dir, { recursive: true, force: true });
  }
  process.exitCode = allMet && !run.interrupted ? 0 : 1;
}

await main();
