/**
 * Per-type volume (GET /v1/activity/event-types): accepted events counted per type and minute in
 * each process, flushed to Redis, summed over processes sharing a stream; replays and refusals
 * are not counted; the number of types per minute is bounded.
 */
import t from "tap";
import type { FastifyInstance } from "fastify";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";
import { MAX_TYPES, OTHER, TypeVolume } from "../src/stream/type-volume.js";

type Volume = {
  from: string;
  to: string;
  types: { type: string; total: number; minutes: { minute: string; count: number }[] }[];
};

const volume = async (app: FastifyInstance, query = "") => {
  const res = await app.inject({ method: "GET", url: `/v1/activity/event-types${query}`, headers: auth(ADMIN_TOKEN) });
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`);
  return res.json() as Volume;
};

const post = (app: FastifyInstance, url: string, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: "POST", url, headers: { ...auth(PUBLISH_TOKEN), ...headers }, payload: payload as object });

t.test("two processes sharing a stream count accepted events per type and minute together", async (t) => {
  const a = await buildApp(t, { BRAIN_ROLE: "api" });
  const b = await buildApp(t, {
    BRAIN_ROLE: "api",
    BRAIN_STREAM: a.config.stream,
    DATABASE_URL: a.env["DATABASE_URL"]!,
  });
  for (let i = 0; i < 3; i++) await post(a.app, "/v1/events", envelope({ type: "order.placed" }));
  await post(b.app, "/v1/events", envelope({ type: "order.placed" }));
  await post(b.app, "/v1/events/batch", {
    events: [envelope({ type: "order.shipped", id: "s-1" }), envelope({ type: "order.placed", id: "p-9" })],
  });
  // Not counted: an idempotent replay (header key, and a batch id seen before), and a refused event.
  await post(a.app, "/v1/events", envelope({ type: "order.placed" }), { "idempotency-key": "k-1" });
  await post(a.app, "/v1/events", envelope({ type: "order.placed" }), { "idempotency-key": "k-1" });
  await post(b.app, "/v1/events/batch", { events: [envelope({ type: "order.shipped", id: "s-1" })] });
  await post(a.app, "/v1/events", envelope({ type: "order.placed", meta: {} }));

  await Promise.all([a.app.typeVolume.flush(), b.app.typeVolume.flush()]);
  const both = await volume(b.app, "?minutes=5");
  t.same(
    both.types.map((x) => [x.type, x.total]),
    [
      ["order.placed", 6],
      ["order.shipped", 1],
    ],
    "counted across both processes, most first, replays and refusals left out",
  );
  const minute = both.types[0]!.minutes;
  t.equal(minute.length, 1, "one minute had events");
  t.equal(minute[0]!.count, 6);
  t.ok(Date.parse(minute[0]!.minute) % 60_000 === 0, "a minute starts on the minute");
  t.equal(Date.parse(both.to) - Date.parse(both.from), 5 * 60_000, "five minutes, the current one included");
  t.ok(Date.parse(minute[0]!.minute) >= Date.parse(both.from) && Date.parse(minute[0]!.minute) < Date.parse(both.to));
  t.same((await volume(a.app, "?minutes=5")).types, both.types, "either process answers the same");

  const key = a.app.keys.typeVolume(Math.floor(Date.parse(minute[0]!.minute) / 60_000));
  const ttl = await a.app.redis.ttl(key);
  t.ok(ttl > 24 * 3600 && ttl <= 25 * 3600, `a day and a bit (${ttl} s)`);

  for (const q of ["?minutes=0", "?minutes=1441", "?minutes=x", "?minutes=1e400"]) {
    const res = await a.app.inject({ method: "GET", url: `/v1/activity/event-types${q}`, headers: auth(ADMIN_TOKEN) });
    t.equal(res.statusCode, 400, q);
  }
});

t.test(`types beyond ${MAX_TYPES} in a minute are counted as ${OTHER}, in memory and in Redis`, async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  const now = Date.UTC(2026, 10, 30, 12, 0, 30);
  const one = new TypeVolume(app.redis, app.keys);
  const two = new TypeVolume(app.redis, app.keys);
  const at = (v: TypeVolume, type: string) => v.count(type, 1, now);
  for (let i = 0; i < MAX_TYPES + 5; i++) at(one, `a.t${i}`);
  for (let i = 0; i < 10; i++) at(two, `b.t${i}`);
  at(two, "a.t0");
  await one.flush();
  await two.flush();
  const report = await one.read(1, now);
  t.equal(report.types.length, MAX_TYPES + 1, "the kept types and other");
  const other = report.types.find((x) => x.type === OTHER);
  t.equal(other?.total, 5 + 10, "the first process's five extra, and the second's new types once the hash was full");
  t.equal(report.types.find((x) => x.type === "a.t0")?.total, 2, "a type already counted keeps counting");
});
