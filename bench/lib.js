/**
 * The harness both benchmarks share: child processes with their logs, the run's own database and
 * stream keys (created here, removed by `cleanup`), CPU accounting from /proc, and the numbers.
 *
 * The gateway runs with the node flags of `npm start` (read from package.json), so a benchmark
 * measures the process a deployment runs; BENCH_GATEWAY_NODE_ARGS adds to them.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import postgres from "postgres";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const env = process.env;
export const REDIS_URL = env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const PG_ADMIN_URL = env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const LOG_LEVEL = env.BENCH_LOG_LEVEL ?? "info";

const words = (s) => (s ?? "").split(/\s+/).filter(Boolean);

/** The node flags of package.json's `start` script (`node <flags> dist/server.js`). */
function startScriptFlags() {
  const start = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.start;
  const argv = words(start);
  if (argv[0] !== "node" || argv.at(-1) !== "dist/server.js") throw new Error(`unexpected start script: ${start}`);
  return argv.slice(1, -1);
}

export const GATEWAY_NODE_ARGS = [...startScriptFlags(), ...words(env.BENCH_GATEWAY_NODE_ARGS)];
export const BASELINE_NODE_ARGS = words(env.BENCH_BASELINE_NODE_ARGS);
/** More gateway environment, e.g. "BRAIN_MAX_EVENT_LOOP_DELAY_MS=0 BRAIN_ROLE=api". */
export const GATEWAY_ENV = Object.fromEntries(
  words(env.BENCH_GATEWAY_ENV).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Nearest-rank percentile of an ascending array. */
export const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
export const fmt = (n, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A realistic Charter envelope (~500 bytes) carrying `extra` in its payload. */
export function envelope(extra = {}) {
  return {
    type: "mission.created",
    source: "mission_queue",
    target: null,
    payload: {
      ...extra,
      mission_id: "m-1042",
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

export async function freePort() {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  srv.close();
  await once(srv, "close");
  return port;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100 on Linux)
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds all Postgres processes have used so far: the server shares this box's cores with
 * the process under test, so its work per event counts against throughput too.
 */
export function postgresCpuSeconds() {
  let total = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres") total += cpuSeconds(pid);
    } catch {
      // the process exited meanwhile
    }
  }
  return total;
}

/** Redis CPU seconds (used_cpu_user + used_cpu_sys) from INFO cpu. */
export async function redisCpuSeconds(redis) {
  const info = await redis.info("cpu");
  const get = (k) => Number(new RegExp(`^${k}:([0-9.]+)`, "m").exec(info)?.[1] ?? NaN);
  return get("used_cpu_user") + get("used_cpu_sys");
}

/**
 * One benchmark run: its own database and `bench:<kind>:<suffix>:*` stream keys, child processes
 * logging into a temporary directory (kept when a target was missed), and a clean-up that stops
 * the children and removes what the run created. SIGINT/SIGTERM kill the children and mark the
 * run interrupted.
 */
export class BenchRun {
  suffix = `${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  token = `bench-${randomBytes(12).toString("hex")}`;
  logDir = mkdtempSync(join(tmpdir(), "brain-bench-"));
  children = [];
  interrupted = false;

  constructor(kind) {
    this.keyPrefix = `bench:${kind}:${this.suffix}`;
    this.dbName = `brain_bench_${this.suffix}`;
    this.redis = new Redis(REDIS_URL);
    this.admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    const onSignal = () => {
      this.interrupted = true;
      for (const p of this.children) p.child.kill("SIGKILL");
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }

  /** Creates the run's database; returns its URL. */
  async createDatabase() {
    await this.admin.unsafe(`create database ${this.dbName}`);
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${this.dbName}`;
    return url.toString();
  }

  /**
   * Starts a child process with stdout+stderr into a log file. `ready` is a URL that answers 200
   * once it is up, or "ipc" for a child that sends a message when it is.
   */
  async startChild(name, args, childEnv, ready) {
    const logFile = join(this.logDir, `${name}.log`);
    const fd = openSync(logFile, "w");
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { PATH: env.PATH ?? "", ...childEnv },
      // Only an "ipc" child gets the channel: an open channel would keep the gateway from exiting.
      stdio: ["ignore", fd, fd, ...(ready === "ipc" ? ["ipc"] : [])],
    });
    closeSync(fd);
    const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal)));
    const proc = { name, child, exited, logFile };
    this.children.push(proc);
    let up = false;
    if (ready === "ipc") child.once("message", () => (up = true));
    const deadline = Date.now() + 30_000;
    while (!up) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${name} exited during start-up:\n${readFileSync(logFile, "utf8").slice(-2000)}`);
      }
      if (ready !== "ipc")
        up = await fetch(ready).then(
          (r) => r.ok,
          () => false,
        );
      if (Date.now() > deadline) throw new Error(`${name} did not start within 30 s`);
      if (!up) await sleep(50);
    }
    return proc;
  }

  /**
   * Starts a gateway (`dist/server.js` of `dir`, this checkout by default) on a free port with the
   * run's token, `env` and then BENCH_GATEWAY_ENV on top; resolves once it is ready, with its URL.
   */
  async startGateway(dbUrl, stream, { env: extraEnv = {}, name = "gateway", dir = ROOT, host = "127.0.0.1" } = {}) {
    const port = await freePort();
    const url = `http://${host}:${port}`;
    const gatewayEnv = {
      HOST: host,
      PORT: String(port),
      REDIS_URL,
      DATABASE_URL: dbUrl,
      BRAIN_STREAM: stream,
      BRAIN_API_TOKENS: `${this.token}=admin+publish`,
      LOG_LEVEL,
      ...extraEnv,
      ...GATEWAY_ENV,
    };
    const gateway = await this.startChild(
      name,
      [...GATEWAY_NODE_ARGS, join(dir, "dist/server.js")],
      gatewayEnv,
      `${url}/health/ready`,
    );
    return { gateway, url };
  }

  /** SIGTERM (lets --cpu-prof write its profile), SIGKILL after 15 s. */
  async stopChild(proc) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill("SIGTERM");
      const timer = setTimeout(() => proc.child.kill("SIGKILL"), 15_000);
      await proc.exited;
      clearTimeout(timer);
    }
    this.children.splice(this.children.indexOf(proc), 1);
  }

  /** Stops the children, deletes the run's keys and database; keeps the logs unless `allMet`. */
  async cleanup(allMet) {
    for (const p of [...this.children]) await this.stopChild(p).catch(() => {});
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", `${this.keyPrefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await this.redis.unlink(...keys);
    } while (cursor !== "0");
    this.redis.disconnect();
    await this.admin.unsafe(`drop database if exists ${this.dbName} with (force)`).catch(() => {});
    await this.admin.end();
    if (allMet) rmSync(this.logDir, { recursive: true, force: true });
    else console.log(`(child logs kept in ${this.logDir})`);
  }
}

/**
 * What a gateway that delivers to a receiver on this machine needs: private webhook URLs, and no
 * load shedding while the bench drives it flat out.
 */
export const DELIVERY_ENV = { BRAIN_WEBHOOK_ALLOW_PRIVATE: "true", BRAIN_MAX_EVENT_LOOP_DELAY_MS: "0" };

/**
 * Resolves once `count()` reaches `n`; rejects when it has not grown for `stallMs`, naming `what`.
 */
export async function untilCount(count, n, what, stallMs) {
  let seen = count();
  let progressAt = Date.now();
  while (count() < n) {
    await sleep(20);
    if (count() > seen) [seen, progressAt] = [count(), Date.now()];
    else if (Date.now() - progressAt > stallMs) throw new Error(`${what}: stalled at ${seen}/${n} events`);
  }
}

/**
 * Runs autocannon in a child process (bench/load.js) and resolves with its result: the load
 * generator must not share the measuring process's event loop.
 */
export function loadProcess(job) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, "bench/load.js"), JSON.stringify(job)],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))),
    );
  });
}

/** Resident set size of a process in MB, from /proc (Linux); NaN elsewhere. */
export function rssMb(pid) {
  try {
    const kb = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return Number(kb) / 1024;
  } catch {
    return NaN;
  }
}
