/**
 * Baseline for bench/ingest.js: the least a Fastify + ioredis ingest endpoint can do.
 * It parses the JSON body and appends it (`XADD <stream> * event <json>`), with no auth, no
 * validation, no idempotency, no logging, and ioredis auto-pipelining (the fastest bare server a
 * user would write instead of the gateway). The gateway is measured against it.
 *
 *   POST /events        one envelope → one XADD            → 202 { stream_message_id }
 *   POST /events/batch  { events: [...] } → one pipeline of XADDs → 202 { results: [...] }
 *
 * Env: PORT (required), REDIS_URL, BENCH_STREAM (required). Prints "listening" when ready.
 */
import Fastify from "fastify";
import { Redis } from "ioredis";

const port = Number(process.env.PORT);
const stream = process.env.BENCH_STREAM;
if (!port || !stream) {
  process.stderr.write("baseline-ingest: PORT and BENCH_STREAM are required\n");
  process.exit(2);
}

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableAutoPipelining: true });
const app = Fastify({ logger: false });

app.get("/health", async () => ({ ok: true }));

app.post("/events", async (request, reply) => {
  const id = await redis.xadd(stream, "*", "event", JSON.stringify(request.body));
  reply.code(202);
  return { stream_message_id: id };
});

app.post("/events/batch", async (request, reply) => {
  const pipeline = redis.pipeline();
  for (const event of request.body.events) pipeline.xadd(stream, "*", "event", JSON.stringify(event));
  const replies = await pipeline.exec();
  reply.code(202);
  return { results: replies.map(([err, id]) => (err ? { error: err.message } : { stream_message_id: id })) };
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
