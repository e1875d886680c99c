import t from "tap";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { eq } from "drizzle-orm";
import { deadLetters, processedEvents, subscribers } from "../src/db/schema.js";
import { Lease } from "../src/stream/lease.js";
import { Trimmer } from "../src/stream/trimmer.js";
import { Redis } from "ioredis";
import { buildApp } from "./helpers/app.js";
import { REDIS_URL } from "./helpers/env.js";
import { envelope } from "./helpers/http.js";
import { valueOf, parseExposition } from "./helpers/prometheus.js";

// role api: no dispatcher reads the groups these tests arrange by hand; the timer is off so
// each test runs the trimmer itself.
const ENV = { BRAIN_ROLE: "api", BRAIN_TRIM_INTERVAL_MS: "0" };

function trimmerFor(app: FastifyInstance, maxLen: number, warnings: unknown[][] = [], retentionMs = 0) {
  const log = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as FastifyBaseLogger;
  const lease = new Lease(app.redis, app.keys.lock("trimmer"), 10_000);
  return new Trimmer({
    redis: app.redis,
    db: app.db,
    keys: app.keys,
    maxLen,
    retentionMs,
    metrics: app.metrics,
    log,
    lease,
  });
}

async function append(app: FastifyInstance, types: string[]): Promise<string[]> {
  const items = types.map((type) => ({
    json: JSON.stringify(envelope({ type, id: `e-${Math.random().toString(36).slice(2)}` })),
    eventId: "x",
  }));
  return (await app.publisher.publish(items)).map((r) => r.streamMessageId);
}

const ids = async (app: FastifyInstance) => (await app.redis.xrange(app.keys.stream, "-", "+")).map(([id]) => id);

t.test("the trimmer never removes an entry a lagging group holds pending while the cap is not hit", async (t) => {
  const { app } = await buildApp(t, ENV);
  const stream = app.keys.stream;
  const added = await append(app, Array(10).fill("mission.created"));
  // `slow` has read 3 entries and ACKed only the first: entries 2 and 3 are still pending.
  await app.redis.xgroup("CREATE", stream, "slow", "0");
  await app.redis.xreadgroup("GROUP", "slow", "c", "COUNT", 3, "STREAMS", stream, ">");
  await app.redis.xack(stream, "slow", added[0]!);
  // `fast` has read and ACKed everything; `fresh` has not read yet but starts after entry 5.
  await app.redis.xgroup("CREATE", stream, "fast", "0");
  await app.redis.xreadgroup("GROUP", "fast", "c", "STREAMS", stream, ">");
  await app.redis.xack(stream, "fast", ...added);
  await app.redis.xgroup("CREATE", stream, "fresh", added[4]!);

  const trimmer = trimmerFor(app, 100);
  t.same(await trimmer.tick(), { acked: 1, capped: 0 }, "only the entry every group is done with");
  t.same(await ids(app), added.slice(1));
  t.same(await trimmer.tick(), { acked: 0, capped: 0 }, "the pending entry holds the floor");

  await app.redis.xack(stream, "slow", added[1]!, added[2]!);
  t.same(await trimmer.tick(), { acked: 2, capped: 0 }, "after the ACKs, up to what slow has not read");
  t.same(await ids(app), added.slice(3), "entries slow has not read yet stay");
  const samples = parseExposition(await app.metrics.registry.metrics());
  t.equal(valueOf(samples, "brain_stream_trimmed_entries_total", { reason: "acked" }), 3);
});

t.test("entries every group is done with stay for the retention period", async (t) => {
  const { app } = await buildApp(t, ENV);
  const added = await append(app, Array(4).fill("mission.created"));
  await app.redis.xgroup("CREATE", app.keys.stream, "fast", "0");
  await app.redis.xreadgroup("GROUP", "fast", "c", "STREAMS", app.keys.stream, ">");
  await app.redis.xack(app.keys.stream, "fast", ...added);
  const retaining = trimmerFor(app, 100, [], 60_000);
  t.same(await retaining.tick(), { acked: 0, capped: 0 }, "younger than the retention: kept");
  t.same(await ids(app), added);
  await retaining.release();
  t.same(await trimmerFor(app, 100).tick(), { acked: 4, capped: 0 }, "without retention they go");
});

t.test("with no consumer group the stream is kept whole up to the cap", async (t) => {
  const { app } = await buildApp(t, ENV);
  const added = await append(app, Array(6).fill("mission.created"));
  const uncapped = trimmerFor(app, 0);
  t.same(await uncapped.tick(), { acked: 0, capped: 0 });
  t.equal(await app.redis.xlen(app.keys.stream), 6);
  await uncapped.release();
  t.same(await trimmerFor(app, 4).tick(), { acked: 0, capped: 2 });
  t.same(await ids(app), added.slice(2));
});

t.test("past the cap a stuck subscriber's unread entries become trimmed dead letters, logged once", async (t) => {
  const { app } = await buildApp(t, ENV);
  const stream = app.keys.stream;
  await app.db.insert(subscribers).values({
    name: "stuck",
    url: "https://example.com/hook",
    eventTypes: ["mission.created"],
    secret: "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0",
  });
  await app.redis.xgroup("CREATE", stream, "stuck", "0", "MKSTREAM");
  const added = await append(app, [
    "mission.created",
    "mission.created",
    "mission.created",
    "other.type",
    "mission.created",
    "mission.created",
    "mission.created",
    "mission.created",
  ]);
  // It holds the first two pending and never ACKs: the floor cannot move past them.
  await app.redis.xreadgroup("GROUP", "stuck", "c", "COUNT", 2, "STREAMS", stream, ">");

  const warnings: unknown[][] = [];
  const trimmer = trimmerFor(app, 3, warnings);
  t.same(await trimmer.tick(), { acked: 0, capped: 5 });
  t.same(await ids(app), added.slice(5), "down to the cap");

  const letters = await app.db
    .select()
    .from(deadLetters)
    .where(eq(deadLetters.subscriberName, "stuck"))
    .orderBy(deadLetters.streamMessageId);
  // Entries 2 and 4 were unread and wanted; 3 is a type stuck does not want; 0 and 1 are pending.
  t.same(
    letters.map((l) => l.streamMessageId),
    [added[2], added[4]],
  );
  t.ok(
    letters.every((l) => l.reason === "trimmed" && l.event !== null && JSON.parse(l.event).type === "mission.created"),
    "payload kept for redelivery",
  );
  const dedup = await app.db.select().from(processedEvents).where(eq(processedEvents.subscriberName, "stuck"));
  t.same(
    dedup.map((d) => d.outcome),
    ["dead_lettered", "dead_lettered"],
  );

  // The pending ones come back to the dispatcher as XAUTOCLAIM deletedIds.
  const [, , deleted] = (await app.redis.xautoclaim(stream, "stuck", "c", 0, "0-0")) as [string, unknown[], string[]];
  t.same(deleted, [added[0], added[1]]);

  await append(app, ["mission.created", "mission.created"]);
  t.same(await trimmer.tick(), { acked: 0, capped: 2 });
  t.equal(await app.db.$count(deadLetters, eq(deadLetters.subscriberName, "stuck")), 4);
  const samples = parseExposition(await app.metrics.registry.metrics());
  t.equal(valueOf(samples, "brain_dead_letters_total", { subscriber: "stuck", reason: "trimmed" }), 4);
  t.equal(valueOf(samples, "brain_stream_trimmed_entries_total", { reason: "cap" }), 7);
  t.equal(warnings.length, 1, "one warning per subscriber, not per run");
  t.match(String(warnings[0]![1]), /BRAIN_STREAM_MAXLEN/);
});

t.test("only one process trims at a time", async (t) => {
  const { app } = await buildApp(t, ENV);
  await append(app, ["mission.created"]);
  const a = trimmerFor(app, 0);
  const b = trimmerFor(app, 0);
  const results = await Promise.all([a.tick(), b.tick()]);
  t.equal(results.filter((r) => r === null).length, 1, "the second one skips");
  const holder = results[0] === null ? b : a;
  const other = holder === a ? b : a;
  t.not(await holder.tick(), null, "the holder keeps the lease across runs");
  t.equal(await other.tick(), null);
  await holder.release();
  t.not(await other.tick(), null, "a released lease is taken over at once");
});

t.test("a running gateway trims on its interval and gives the lease up when it closes", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_TRIM_INTERVAL_MS: "100", BRAIN_STREAM_MAXLEN: "3" });
  await append(app, Array(6).fill("mission.created"));
  let length = 6;
  for (let i = 0; i < 50 && length > 3; i++) {
    await new Promise((r) => setTimeout(r, 100));
    length = await app.redis.xlen(app.keys.stream);
  }
  t.equal(length, 3, "trimmed to the cap without anyone calling it");
  const lock = app.keys.lock("trimmer");
  const probe = new Redis(REDIS_URL);
  t.teardown(() => probe.disconnect());
  t.ok(await probe.exists(lock), "the lease is held while running");
  await app.close();
  t.equal(await probe.exists(lock), 0, "released on close");
});
