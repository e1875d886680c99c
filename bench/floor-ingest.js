/**
 * The floor for bench/ingest.js: the bare baseline (bench/baseline-ingest.js) plus only the work
 * issue 13 keeps on for a single event, each in the cheapest correct form we know and with the
 * gateway's own compiled parts where they exist:
 *   auth      Bearer token, SHA-256 digest looked up in a Map, scope check (onRequest, callback style)
 *   shedding  @fastify/under-pressure with the gateway's default thresholds
 *   validate  the gateway's strict body validator for the envelope schema (formats included)
 *   limits    the depth / exact-number walk and the stored-size check
 *   assign    UUIDv7 id and receive time, the stored envelope in the gateway's key order
 *   metrics   the gateway's two ingest metrics (count by type and outcome, time by route and status)
 * Nothing else: no logger, no shutdown or drain hooks, no /v1 plugin tree, no idempotency lookup
 * (the bench's events carry neither id nor key, so the gateway does none either).
 *
 * Run next to the gateway and the baseline, it splits the gap in two: what the required checks
 * cost at the least (floor vs baseline), and what the gateway spends above that (gateway vs floor).
 *
 *   POST /events → 202 { id, stream_message_id }
 *
 * Env: PORT, BENCH_STREAM, BENCH_TOKEN (all required), REDIS_URL. Prints "listening" when ready.
 * Needs `npm run build` (it imports the gateway's parts from dist/).
 */
import underPressure from "@fastify/under-pressure";
import Fastify from "fastify";
import { Redis } from "ioredis";
import { hash } from "node:crypto";
import { getHeapStatistics } from "node:v8";
import { Counter, Histogram, Registry } from "prom-client";
import { v7 as uuidv7 } from "uuid";
import { loadConfig } from "../dist/config.js";
import { MAX_PAYLOAD_DEPTH, withinLimits } from "../dist/ingest/prepare.js";
import { EventEnvelope } from "../dist/schemas/envelope.js";
import { SchemaValidators } from "../dist/schemas/validators.js";

const port = Number(process.env.PORT);
const stream = process.env.BENCH_STREAM;
const token = process.env.BENCH_TOKEN;
if (!port || !stream || !token) {
  process.stderr.write("floor-ingest: PORT, BENCH_STREAM and BENCH_TOKEN are required\n");
  process.exit(2);
}
const config = loadConfig({ BRAIN_API_TOKENS: `${token}=publish` });

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableAutoPipelining: true });
const app = Fastify({ logger: false });
const validators = new SchemaValidators([EventEnvelope]);
app.setValidatorCompiler(({ schema }) => validators.body(schema));

await app.register(underPressure, {
  maxEventLoopDelay: config.maxEventLoopDelayMs,
  maxHeapUsedBytes: Math.floor((getHeapStatistics().heap_size_limit * config.maxHeapUsedPercent) / 100),
  sampleInterval: 1000,
});

const registry = new Registry();
const ingested = new Counter({ name: "ingested", help: "-", labelNames: ["type", "outcome"], registers: [registry] });
const duration = new Histogram({
  name: "duration",
  help: "-",
  labelNames: ["route", "status"],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

const digest = (s) => hash("sha256", s, "base64");
const known = new Map([[digest(token), new Set(["publish"])]]);

app.get("/health", async () => ({ ok: true }));

app.addHook("onRequest", (request, reply, done) => {
  if (request.url === "/health") return done();
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? "");
  const scopes = m === null ? undefined : known.get(digest(m[1]));
  if (scopes === undefined || !scopes.has("publish")) return reply.code(401).send({ error: "unauthorized" });
  done();
});
app.addHook("onResponse", (request, reply, done) => {
  if (request.url !== "/health")
    duration.observe({ route: "/events", status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  done();
});

app.post("/events", { schema: { body: EventEnvelope } }, async (request, reply) => {
  const event = request.body;
  if (!withinLimits(event, 0, MAX_PAYLOAD_DEPTH)) return reply.code(400).send({ error: "limits" });
  const id = event.id ?? uuidv7();
  const json = JSON.stringify({
    id,
    type: event.type,
    source: event.source,
    target: event.target ?? null,
    payload: event.payload,
    timestamp: event.timestamp ?? new Date().toISOString(),
    meta: event.meta,
  });
  if (Buffer.byteLength(json) > config.maxEnvelopeBytes) return reply.code(413).send({ error: "too large" });
  const streamMessageId = await redis.xadd(stream, "*", "event", json);
  ingested.inc({ type: event.type, outcome: "accepted" });
  reply.code(202);
  return { id, stream_message_id: streamMessageId };
});

const shutdown = async () => {
  await app.close();
  await redis.quit();
  process.exit(0);
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

await app.listen({ port, host: "127.0.0.1" });
process.stdout.write("listening\n");
