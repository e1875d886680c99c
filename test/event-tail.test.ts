/**
 * The live tail over a real socket, read by a real HTTP client: the SSE framing, where it starts
 * and resumes (Last-Event-ID), the type filter, the per-process limit, a client that does not
 * read, shutdown, and that tails add no Redis connection.
 */
import t from "tap";
import type { FastifyInstance } from "fastify";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { buildApp } from "./helpers/app.js";
import { createSubscriber, eventually, FAST_ENV, publish } from "./helpers/delivery.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN, REDIS_URL } from "./helpers/env.js";
import { auth } from "./helpers/http.js";
import { startReceiver } from "./helpers/receiver.js";
import { openTail } from "./helpers/tail.js";
import { MAX_TAILS } from "../src/plugins/event-tail.js";

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: "127.0.0.1" });
  return (app.server.address() as AddressInfo).port;
}

t.test("a tail streams new events as SSE frames, filters by type and resumes after Last-Event-ID", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  const port = await listen(app);
  const before = await publish(app, { payload: { n: -1 } });

  const tail = await openTail(port);
  t.equal(tail.res.statusCode, 200);
  t.match(tail.res.headers["content-type"], /^text\/event-stream/);
  const typed = await openTail(port, "?type=mission.done");
  const sent: string[] = [];
  for (let n = 0; n < 5; n++)
    sent.push(await publish(app, { type: n === 2 ? "mission.done" : "mission.created", payload: { n } }));
  await eventually(() => tail.events().length === 5, 5000, "five events on the tail");
  t.same(
    tail.events().map((e) => e.id),
    sent,
    "the new events in order, not the one appended before the tail opened",
  );
  t.notOk(tail.events().some((e) => e.id === before));
  const first = tail.events()[0]!;
  t.equal(first.body.stream_message_id, first.id, "the SSE id is the stream id");
  t.match(first.body.event, { type: "mission.created", payload: { n: 0 }, meta: { schema_version: 1 } });
  await eventually(() => typed.events().length === 1, 5000, "the typed tail's event");
  t.same(
    typed.events().map((e) => e.id),
    [sent[2]],
    "a typed tail sends only that type",
  );
  tail.close();
  typed.close();

  for (let n = 5; n < 8; n++) sent.push(await publish(app, { payload: { n } }));
  const resumed = await openTail(port, "", { "last-event-id": sent[3]! });
  await eventually(() => resumed.events().length === 4, 5000, "the events after the resume point");
  t.same(
    resumed.events().map((e) => e.id),
    sent.slice(4),
    "exactly the events after Last-Event-ID, those sent while disconnected included",
  );
  const byQuery = await openTail(port, `?after=${sent[6]}`);
  await eventually(() => byQuery.events().length === 1, 5000);
  t.same(
    byQuery.events().map((e) => e.id),
    [sent[7]],
    "`after` resumes too",
  );
  resumed.close();
  byQuery.close();

  for (const [query, headers] of [
    ["?after=yesterday", {}],
    ["", { "last-event-id": "1:1-0" }],
    ["?type=__proto__", {}],
  ] as const) {
    const res = await app.inject({
      method: "GET",
      url: `/v1/events/tail${query}`,
      headers: { ...auth(ADMIN_TOKEN), ...headers },
    });
    t.equal(res.statusCode, 400, `${query} ${JSON.stringify(headers)}`);
    t.equal(res.json().code, "INVALID_REQUEST");
  }
  const forbidden = await app.inject({ method: "GET", url: "/v1/events/tail", headers: auth(PUBLISH_TOKEN) });
  t.equal(forbidden.statusCode, 403);
});

t.test("with 4 partitions a tail sends (ms, seq, partition) order and resumes from one id", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_STREAM_PARTITIONS: "4" });
  const port = await listen(app);
  const tail = await openTail(port);
  const sent: string[] = [];
  for (let n = 0; n < 12; n++) sent.push(await publish(app, { ordering_key: `k${n}`, payload: { n } }));
  t.ok(new Set(sent.map((id) => id.split(":")[0])).size > 1, "spread over partitions");
  await eventually(() => tail.events().length === 12, 5000, "every event");
  t.same(new Set(tail.events().map((e) => e.id)), new Set(sent));
  tail.close();
  const seen = tail.events().map((e) => e.id);
  const resumed = await openTail(port, "", { "last-event-id": seen[5]! });
  await eventually(() => resumed.events().length === 6, 5000, "the rest");
  t.same(
    resumed.events().map((e) => e.id),
    seen.slice(6),
    "a resume from the sixth event sends exactly the six after it, across partitions",
  );
  resumed.close();
});

t.test("an entry is sent only once no other partition can still get an id before it", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_STREAM_PARTITIONS: "2" });
  const port = await listen(app);
  const tail = await openTail(port);
  const redis = new Redis(REDIS_URL);
  t.teardown(() => redis.quit());
  // Ids set by hand, 0.6 s ahead of Redis's clock, stand in for two appends in one millisecond:
  // the higher partition's first, then the lower partition's, with a smaller id.
  const [seconds, micros] = await redis.time();
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const ms = now + 600;
  const stored = (n: number) =>
    JSON.stringify({
      id: `held-${n}`,
      type: "mission.created",
      source: "test",
      target: null,
      payload: { n },
      timestamp: new Date().toISOString(),
      meta: { schema_version: 1, producer: "test", source_module: "tail" },
    });
  const [low, high] = app.keys.partitions.map((p) => p.stream);
  // eslint-disable-next-line no-restricted-properties -- an id set by hand, which the Publisher never does
  await redis.xadd(high!, `${ms}-5`, "event", stored(1));
  await new Promise((r) => setTimeout(r, 200));
  t.same(tail.events(), [], "held while another partition could still get a smaller id");
  // eslint-disable-next-line no-restricted-properties -- as above
  await redis.xadd(low!, `${ms}-1`, "event", stored(0));
  await eventually(() => tail.events().length === 2, 5000, "both, once the clocks passed");
  t.same(
    tail.events().map((e) => e.id),
    [`0:${ms}-1`, `1:${ms}-5`],
    "in id order: a resume after the first event cannot miss the second",
  );
  // An id far ahead of the clocks (set by hand, or masters' clocks apart) is not held for long.
  const far = now + 60_000;
  // eslint-disable-next-line no-restricted-properties -- as above
  await redis.xadd(high!, `${far}-0`, "event", stored(2));
  await eventually(() => tail.events().length === 3, 900, "an entry a minute ahead, within a second");
  tail.close();
});

t.test("a comment heartbeat comes every 15 s on an idle tail", { timeout: 40_000 }, async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  const tail = await openTail(await listen(app));
  await eventually(() => tail.frames.some((f) => f.comment === "heartbeat"), 17_000, "a heartbeat");
  t.same(tail.events(), []);
  tail.close();
});

t.test("a client that does not read is ended with event: overflow and frees its slot", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  const port = await listen(app);
  const socket = connect(port, "127.0.0.1");
  t.teardown(() => socket.destroy());
  const chunks: Buffer[] = [];
  const closed = new Promise<void>((done) => socket.on("close", () => done()));
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.write(`GET /v1/events/tail HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`);
  await eventually(() => app.eventTails.size === 1, 5000, "the tail to open");
  socket.pause();
  const blob = "x".repeat(200 * 1024);
  for (let i = 0; i < 80; i++) await publish(app, { payload: { i, blob } });
  await eventually(() => app.eventTails.size === 0, 15_000, "the tail to give up on the client");
  socket.resume();
  await closed;
  const text = Buffer.concat(chunks).toString();
  t.match(text, /^HTTP\/1.1 200/);
  const received = text.split("\nevent: event\n").length - 1;
  t.ok(received > 0 && received < 80, `some events reached it, not all (${received})`);
  // The last chunk of the chunked body, then its end.
  t.match(text, /event: overflow\ndata: \{"reason":"[^"]*Last-Event-ID"\}\n\n\r\n0\r\n\r\n$/, "the last frame");
  const reopened = await openTail(port);
  t.equal(reopened.res.statusCode, 200, "its slot is free again");
  reopened.close();
});

t.test(`at most ${MAX_TAILS} tails per process; shutdown ends them cleanly`, async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  const port = await listen(app);
  const tails = await Promise.all(Array.from({ length: MAX_TAILS }, () => openTail(port)));
  t.ok(tails.every((x) => x.res.statusCode === 200));
  const refused = await app.inject({ method: "GET", url: "/v1/events/tail", headers: auth(ADMIN_TOKEN) });
  t.equal(refused.statusCode, 503);
  t.match(refused.json(), { code: "OVERLOADED", message: new RegExp(`at most ${MAX_TAILS} live tails`) });
  t.equal(refused.headers["retry-after"], "5");
  tails.pop()!.close();
  await eventually(() => app.eventTails.size === MAX_TAILS - 1, 5000);
  const again = await openTail(port);
  t.equal(again.res.statusCode, 200, "a slot freed by a client that left is taken again");
  tails.push(again);

  const started = Date.now();
  await app.close();
  t.ok(Date.now() - started < 5000, `close did not wait on the tails (${Date.now() - started} ms)`);
  await Promise.all(tails.map((x) => x.ended));
  t.ok(
    tails.every((x) => x.res.complete),
    "every response ended cleanly, not cut",
  );
});

/** Redis connections of this test process's gateways (connections name themselves brain:<pid>:<role>). */
async function ownConnections(redis: Redis): Promise<string[]> {
  const list = String(await redis.client("LIST"));
  return list
    .split("\n")
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? "")
    .filter((name) => name.startsWith(`brain:${process.pid}:`))
    .sort();
}

t.test("tails add no Redis connection: they share the dispatcher's stream watcher", async (t) => {
  const receiver = await startReceiver(t);
  const { app } = await buildApp(t, FAST_ENV);
  const port = await listen(app);
  await createSubscriber(app, { name: "watching", url: receiver.url });
  await publish(app);
  await receiver.waitFor(1);
  const redis = new Redis(REDIS_URL);
  t.teardown(() => redis.quit());
  const baseline = await ownConnections(redis);
  t.ok(
    baseline.some((n) => n.endsWith(":watch")),
    `the watcher's connection is there (${baseline.join(" ")})`,
  );
  const tails = await Promise.all(
    Array.from({ length: 8 }, (_, i) => openTail(port, i % 2 ? "?type=mission.created" : "")),
  );
  const id = await publish(app);
  for (const tail of tails)
    await eventually(() => tail.events().some((e) => e.id === id), 5000, "the event on every tail");
  t.same(await ownConnections(redis), baseline, "eight tails later, the same connections");
  for (const tail of tails) tail.close();
});
