/**
 * A real Redis Cluster (3 masters, 3 replicas) of local `redis-server` child processes, for fault
 * tests: kill, pause and restart nodes and watch the cluster fail over. Each test file starts its
 * own cluster on freshly probed ports, so files can run in parallel.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import type { Test } from "./env.js";
import { freePort } from "./processes.js";

const HOST = "127.0.0.1";
const BUS_OFFSET = 10_000; // Redis puts the cluster bus at port + 10000, and it must be free too
const NODES = 6;
const SLOTS = 16384;

export interface ClusterNode {
  port: number;
  url: string;
  /** running? (a paused node still counts as running) */
  alive(): boolean;
}

export interface TestCluster {
  /** "redis://127.0.0.1:p1,redis://127.0.0.1:p2,..." — all 6 nodes, as REDIS_URL for BRAIN_REDIS_MODE=cluster */
  seeds: string;
  nodes: ClusterNode[];
  /** current master port serving `slot`, by CLUSTER SLOTS on the live nodes */
  masterOf(slot: number): Promise<number>;
  /** port of a live, non-failed replica of master `port`, by CLUSTER NODES; undefined if it has none */
  replicaOf(masterPort: number): Promise<number | undefined>;
  /** SIGKILL (or other signal) the node's process; resolves when it exited */
  kill(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP / SIGCONT */
  pause(port: number): void;
  resume(port: number): void;
  /** restart a killed node with the same port and nodes.conf, so it rejoins (as a replica after a failover) */
  restart(port: number): Promise<void>;
  /**
   * Resolves once every live, unpaused node reports cluster_state:ok with all 16384 slots assigned,
   * all of them agree on which live master serves which slots, see each other as connected and
   * not failing, and every replica's link to its master is up; rejects after timeoutMs.
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** kill every node and remove the data directory; idempotent; also registered with t.teardown */
  stop(): Promise<void>;
}

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  spawnError?: Error;
  paused: boolean;
}

interface NodeLine {
  port: number;
  id: string;
  flags: string[];
  master: string;
  link: string;
  slots: string[];
}

const running = (p: Proc | undefined): boolean =>
  !!p && !p.spawnError && p.child.exitCode === null && p.child.signalCode === null;

async function canListen(port: number): Promise<boolean> {
  const srv = createServer();
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

/** `n` ports whose bus ports are free as well, none of them clashing with another's. */
async function pickPorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  const taken = new Set<number>();
  while (ports.length < n) {
    const p = await freePort();
    if (p + BUS_OFFSET > 65535 || taken.has(p) || taken.has(p + BUS_OFFSET)) continue;
    if (!(await canListen(p + BUS_OFFSET))) continue;
    ports.push(p);
    taken.add(p).add(p + BUS_OFFSET);
  }
  return ports;
}

/** A short-lived admin connection: no retries, and timeouts so that a paused node cannot hang a poll. */
async function query<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(port, HOST, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    connectTimeout: 1000,
    commandTimeout: 1000,
  });
  r.on("error", () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

function parseNodes(text: string): NodeLine[] {
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [id = "", addr = "", flags = "", master = "", , , , link = "", ...slots] = line.split(" ");
      return {
        id,
        port: Number(addr.split("@")[0]?.split(":").pop()),
        flags: flags.split(","),
        master,
        link,
        // "[slot->-id]" entries are slots being migrated, not served
        slots: slots.filter((s) => !s.startsWith("[")),
      };
    });
}

/**
 * The view of one node as a comparable string: which of `ports` serves which slots, and which
 * replicates which. Gossip spreads roles after redis-cli has exited, so slots alone agree too early.
 */
const topology = (nodes: NodeLine[], ports: number[]) => {
  const portOf = new Map(nodes.map((n) => [n.id, n.port]));
  return nodes
    .filter((n) => ports.includes(n.port))
    .map((n) => (n.flags.includes("slave") ? `${n.port}>${portOf.get(n.master)}` : `${n.port}:${n.slots.join(",")}`))
    .sort()
    .join(" ");
};

const BAD_FLAGS = ["fail", "fail?", "handshake", "noaddr"];

export async function startCluster(t: Test, opts: { nodeTimeoutMs?: number } = {}): Promise<TestCluster> {
  const nodeTimeoutMs = opts.nodeTimeoutMs ?? 2000;
  const dir = mkdtempSync(join(tmpdir(), "brain-cluster-"));
  const procs = new Map<number, Proc>();

  const logTail = (port: number) => {
    try {
      return readFileSync(join(dir, `${port}.log`), "utf8")
        .trim()
        .split("\n")
        .slice(-5)
        .join("\n");
    } catch {
      return "(no log)";
    }
  };

  const spawnNode = (port: number) => {
    const child = spawn(
      "redis-server",
      [
        ...["--port", String(port), "--bind", HOST, "--protected-mode", "no"],
        ...["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`)],
        ...["--cluster-node-timeout", String(nodeTimeoutMs)],
        // A replica that lost its master long ago may still be promoted: tests kill at will.
        ...["--cluster-replica-validity-factor", "0"],
        // The default 5 s wait for more replicas before a full sync would dominate start and rejoin.
        ...["--repl-diskless-sync-delay", "0"],
        ...["--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"],
        ...["--logfile", join(dir, `${port}.log`)],
      ],
      { stdio: "ignore", cwd: dir },
    );
    const proc: Proc = { child, exited: Promise.resolve(), paused: false };
    // Created at once, so an exit between now and a later await is not missed.
    proc.exited = new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.once("error", (err) => {
        if (child.pid === undefined) proc.spawnError = err;
        resolve();
      });
    });
    procs.set(port, proc);
    return proc;
  };

  /** Until the node answers PING; rejects as soon as it exits (a port taken meanwhile, say). */
  const waitPing = async (port: number, timeoutMs = 15_000) => {
    const proc = procs.get(port);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!running(proc)) {
        throw new Error(`redis-server on ${port} exited: ${proc?.spawnError?.message ?? logTail(port)}`);
      }
      if ((await query(port, (r) => r.ping()).catch(() => "")) === "PONG") return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} does not answer PING: ${logTail(port)}`);
      await sleep(50);
    }
  };

  const killProc = async (proc: Proc | undefined, signal: NodeJS.Signals) => {
    if (!proc || !running(proc)) return;
    proc.child.kill(signal);
    // A stopped process keeps any signal but SIGKILL pending until it continues.
    if (proc.paused) proc.child.kill("SIGCONT");
    proc.paused = false;
    await proc.exited;
  };

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all([...procs.values()].map((p) => killProc(p, "SIGKILL")));
      rmSync(dir, { recursive: true, force: true });
    })());
  t.teardown(stop);

  let ports: number[] = [];
  for (let attempt = 1; ; attempt++) {
    ports = await pickPorts(NODES);
    ports.forEach(spawnNode);
    try {
      await Promise.all(ports.map((p) => waitPing(p)));
      break;
    } catch (err) {
      // Probing and binding are not atomic: another test file may take a port in between.
      await Promise.all(ports.map((p) => killProc(procs.get(p), "SIGKILL")));
      for (const p of ports) {
        procs.delete(p);
        rmSync(join(dir, `nodes-${p}.conf`), { force: true });
        rmSync(join(dir, `${p}.log`), { force: true });
      }
      if (attempt >= 3 || !/in use/i.test(String(err))) throw err;
    }
  }

  /** Ports of nodes that can answer now: running and not stopped. */
  const live = () => ports.filter((p) => running(procs.get(p)) && !procs.get(p)?.paused);

  const unhealthy = async (): Promise<string | undefined> => {
    const asked = live();
    if (asked.length === 0) return "no live node";
    const views = await Promise.all(
      asked.map((port) =>
        query(port, async (r) => {
          const [info, nodes, role] = await Promise.all([
            r.call("CLUSTER", "INFO"),
            r.call("CLUSTER", "NODES"),
            r.call("ROLE"),
          ]);
          return { port, info: String(info), nodes: parseNodes(String(nodes)), role: role as unknown[] };
        }).catch((err: Error) => `${port}: ${err.message}`),
      ),
    );
    const topologies = new Set<string>();
    for (const v of views) {
      if (typeof v === "string") return v;
      if (!v.info.includes("cluster_state:ok")) return `${v.port}: cluster_state not ok`;
      if (!v.info.includes(`cluster_slots_assigned:${SLOTS}\r`)) return `${v.port}: not all slots assigned`;
      for (const n of v.nodes.filter((n) => asked.includes(n.port))) {
        const bad = n.flags.filter((f) => BAD_FLAGS.includes(f));
        if (bad.length > 0 || n.link !== "connected") return `${v.port} sees ${n.port} as ${bad} ${n.link}`;
      }
      if (v.role[0] === "slave" && v.role[3] !== "connected") return `${v.port}: replica link ${v.role[3]}`;
      const owners = v.nodes.filter((n) => n.flags.includes("master") && n.slots.length > 0).map((n) => n.port);
      const gone = owners.find((p) => !asked.includes(p));
      if (gone !== undefined) return `${v.port}: slots still served by ${gone}, which is down`;
      topologies.add(topology(v.nodes, asked));
    }
    return topologies.size === 1 ? undefined : `views differ: ${[...topologies].join(" | ")}`;
  };

  const waitHealthy = async (timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const why = await unhealthy();
      if (why === undefined) return;
      if (Date.now() > deadline) throw new Error(`cluster not healthy after ${timeoutMs} ms: ${why}`);
      await sleep(100);
    }
  };

  const nodeProc = (port: number) => {
    const p = procs.get(port);
    if (!p) throw new Error(`no cluster node on port ${port}`);
    return p;
  };

  const cli = spawn(
    "redis-cli",
    [...["--cluster", "create", ...ports.map((p) => `${HOST}:${p}`)], ...["--cluster-replicas", "1", "--cluster-yes"]],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let cliOut = "";
  cli.stdout.on("data", (d: Buffer) => (cliOut += d.toString()));
  cli.stderr.on("data", (d: Buffer) => (cliOut += d.toString()));
  const [code] = (await once(cli, "close")) as [number | null]; // rejects on a spawn error
  if (code !== 0) throw new Error(`redis-cli --cluster create failed (${code}):\n${cliOut}`);
  await waitHealthy();

  return {
    seeds: ports.map((p) => `redis://${HOST}:${p}`).join(","),
    nodes: ports.map((port) => ({ port, url: `redis://${HOST}:${port}`, alive: () => running(procs.get(port)) })),

    async masterOf(slot) {
      // Views differ for a moment after a promotion (gossip): the majority of the live nodes wins.
      const answers = await Promise.all(
        live().map((port) =>
          query(port, (r) => r.call("CLUSTER", "SLOTS")).then(
            (ranges) => (ranges as [number, number, [string, number]][]).find(([lo, hi]) => lo <= slot && slot <= hi),
            () => undefined,
          ),
        ),
      );
      const votes = new Map<number, number>();
      for (const a of answers) if (a) votes.set(a[2][1], (votes.get(a[2][1]) ?? 0) + 1);
      const best = [...votes].sort((a, b) => b[1] - a[1])[0];
      if (!best) throw new Error(`no live node knows a master for slot ${slot}`);
      return best[0];
    },

    async replicaOf(masterPort) {
      // The master itself knows its replicas first; any live node will do if it is down.
      const asked = live().sort((a, b) => Number(b === masterPort) - Number(a === masterPort));
      for (const port of asked) {
        const nodes = await query(port, (r) => r.call("CLUSTER", "NODES")).then(
          (text) => parseNodes(String(text)),
          () => undefined,
        );
        if (!nodes) continue;
        const master = nodes.find((n) => n.port === masterPort);
        return nodes.find(
          (n) =>
            master &&
            n.master === master.id &&
            !n.flags.some((f) => BAD_FLAGS.includes(f)) &&
            running(procs.get(n.port)),
        )?.port;
      }
      throw new Error("no live node to ask");
    },

    kill: (port, signal = "SIGKILL") => killProc(nodeProc(port), signal),

    pause(port) {
      const p = nodeProc(port);
      if (!running(p) || p.paused) return;
      p.child.kill("SIGSTOP");
      p.paused = true;
    },

    resume(port) {
      const p = nodeProc(port);
      if (!running(p) || !p.paused) return;
      p.child.kill("SIGCONT");
      p.paused = false;
    },

    async restart(port) {
      if (running(nodeProc(port))) throw new Error(`node ${port} is still running`);
      if (stopping) throw new Error("the cluster was stopped");
      spawnNode(port);
      await waitPing(port);
    },

    waitHealthy,
    stop,
  };
}
