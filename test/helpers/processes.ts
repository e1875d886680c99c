/** Real processes for tests: free ports, gateway child processes, throwaway Redis servers. */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { ROOT, type Test } from "./env.js";

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as { port: number };
  srv.close();
  await once(srv, "close");
  return port;
}

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

/**
 * Starts `dist/server.js` as a real child process (npm test builds it first). Resolves once it
 * listens, or once it exits, whichever comes first: no fixed deadline, since a loaded machine
 * can take any time to start a process (tap's per-file timeout still bounds a hung one).
 */
export async function spawnGateway(t: Test, env: Record<string, string>): Promise<GatewayProcess> {
  const port = env["PORT"] ?? String(await freePort());
  const child = spawn(process.execPath, ["dist/server.js"], {
    cwd: ROOT,
    env: { PATH: process.env["PATH"] ?? "", ...env, PORT: port, LOG_LEVEL: env["LOG_LEVEL"] ?? "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)),
  );
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  const url = `http://127.0.0.1:${port}`;
  while (child.exitCode === null && child.signalCode === null) {
    if (out.includes("Server listening")) break;
    // Below LOG_LEVEL info nothing is logged: ask the process instead.
    if (
      await fetch(`${url}/health/live`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url, stderr: () => err + out, exited };
}

export interface RedisServer {
  url: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A throwaway redis-server on a spare port, `args` added to its command line; for tests that stop and start it. */
export async function startRedis(t: Test, args: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "brain-redis-"));
  let proc: ChildProcess | null = null;
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      // Its own working directory: a test that turns persistence on writes its files there.
      proc = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...args],
        { stdio: "ignore", cwd: dir },
      );
      const probe = new Redis(port, "127.0.0.1", {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on("error", () => {}); // refused until the server listens: that is what the loop waits for
      for (let i = 0; i < 100; i++) {
        try {
          await probe.connect();
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      probe.disconnect();
    },
    async stop() {
      // A killed process has a signalCode and no exitCode: stopping twice must not wait for a second exit.
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const p = proc;
      p.kill("SIGKILL");
      await once(p, "exit");
    },
  };
  await server.start();
  t.teardown(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return server;
}
