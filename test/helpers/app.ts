/**
 * Test isolation: every test file gets its own Postgres database and its own stream key, so
 * files run in parallel against the one Redis and Postgres on this machine.
 */
import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import postgres from "postgres";
import { build } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/config.js";

type Test = { teardown(fn: () => unknown): void };

export const REDIS_URL = process.env["TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";
export const PG_ADMIN_URL = process.env["TEST_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const ADMIN_TOKEN = "test-admin-token-0123456789";
export const PUBLISH_TOKEN = "test-publish-token-0123456789";
export const BOTH_TOKEN = "test-both-token-0123456789ab";
export const TOKENS = `${ADMIN_TOKEN}=admin,${PUBLISH_TOKEN}=publish,${BOTH_TOKEN}=admin+publish`;
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const unique = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;

/** Creates a fresh database for this test file and drops it at teardown; returns its URL. */
export async function createTestDatabase(t: Test): Promise<string> {
  const name = unique("brain_t");
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  t.teardown(async () => {
    const c = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    await c.unsafe(`drop database if exists ${name} with (force)`);
    await c.end();
  });
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Environment for an isolated gateway: own stream key, own database, known tokens. */
export async function testEnv(t: Test, overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  const stream = unique("test:stream");
  // No reconnecting: the teardown must not wait on a Redis the test has stopped.
  const redis = new Redis(overrides["REDIS_URL"] ?? REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  t.teardown(async () => {
    // Best effort: a test may have stopped the Redis it pointed at.
    try {
      await redis.connect();
      const keys = await redis.keys(`${stream}*`);
      if (keys.length > 0) await redis.del(...keys);
    } catch {
      /* the keys die with that Redis */
    }
    redis.disconnect();
  });
  return {
    REDIS_URL,
    DATABASE_URL: overrides["DATABASE_URL"] ?? (await createTestDatabase(t)),
    BRAIN_STREAM: stream,
    BRAIN_API_TOKENS: TOKENS,
    LOG_LEVEL: "silent",
    // Loading and compiling the test file stalls the event loop for a second or more, which load
    // shedding would answer with 503 on the first requests; tests of shedding set it themselves.
    BRAIN_MAX_EVENT_LOOP_DELAY_MS: "0",
    ...overrides,
  };
}

/** Builds the gateway in-process for app.inject; closed at teardown. */
export async function buildApp(
  t: Test,
  overrides: Record<string, string> = {},
): Promise<{ app: FastifyInstance; config: Config; env: Record<string, string> }> {
  const env = await testEnv(t, overrides);
  const config = loadConfig(env);
  const app = await build(config, false);
  t.teardown(() => app.close());
  return { app, config, env };
}

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
 * listens, or once it exits, whichever comes first.
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
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && child.exitCode === null) {
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

/** A throwaway redis-server on a spare port, for tests that stop and start Redis. */
export async function startRedis(t: Test): Promise<RedisServer> {
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
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
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

/** The standard Charter envelope used across tests; override what a test is about. */
export function envelope(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "mission.created",
    source: "mission_queue",
    payload: { mission_id: "m-42" },
    meta: { schema_version: 1, producer: "mission_queue_manager", source_module: "missions" },
    ...over,
  };
}

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });
