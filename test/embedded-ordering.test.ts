/**
 * createEventConsumer with `ordering: "key"` on a 4-partition stream (standalone Redis): a handler
 * failing at random still sees each ordering_key's events succeed in publish order, one at a time,
 * while events of other keys run alongside.
 */
import t from "tap";
import { createEventConsumer, type ConsumedEvent } from "../src/index.js";
import { buildApp } from "./helpers/app.js";
import { eventually } from "./helpers/delivery.js";
import { envelope } from "./helpers/http.js";

t.test("ordered in-process consumer: per-key publish order through random failures", async (t) => {
  const { app, env } = await buildApp(t, {
    BRAIN_ROLE: "api",
    BRAIN_STREAM_PARTITIONS: "4",
    BRAIN_RETRY_SCHEDULE: "20ms",
    BRAIN_CLAIM_IDLE_MS: "3000",
    BRAIN_WEBHOOK_TIMEOUT_MS: "1000",
    LOG_LEVEL: "silent",
  });
  const keys = 8;
  const perKey = 40;
  const events = Array.from({ length: keys * perKey }, (_, n) =>
    envelope({ id: `e-${n}`, ordering_key: `k${n % keys}`, payload: { seq: Math.floor(n / keys) } }),
  );
  for (let i = 0; i < events.length; i += 80) {
    await app.publisher.publish(
      events.slice(i, i + 80).map((e) => ({
        json: JSON.stringify(e),
        eventId: String(e["id"]),
        routingKey: String(e["ordering_key"]),
      })),
    );
  }
  const done = new Map<string, number[]>();
  const open = new Map<string, number>();
  let overlap = 0;
  let concurrentKeys = 0;
  const handle = async (e: ConsumedEvent) => {
    const key = e.event.ordering_key!;
    open.set(key, (open.get(key) ?? 0) + 1);
    if (open.get(key)! > 1) overlap++;
    concurrentKeys = Math.max(concurrentKeys, [...open.values()].filter((n) => n > 0).length);
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    open.set(key, open.get(key)! - 1);
    if (Math.random() < 0.25) throw new Error("flaky");
    done.set(key, [...(done.get(key) ?? []), (e.event.payload as { seq: number }).seq]);
  };
  const consumer = createEventConsumer({
    name: "ordered-inproc",
    env,
    startFrom: "earliest",
    ordering: "key",
    maxAttempts: 50,
    handlers: { "*": handle },
  });
  t.teardown(() => consumer.stop(1000));
  await consumer.start();
  await eventually(() => [...done.values()].reduce((n, s) => n + s.length, 0) >= keys * perKey, 30_000, "all events");
  const expected = Array.from({ length: perKey }, (_, i) => i);
  for (let k = 0; k < keys; k++) t.same(done.get(`k${k}`), expected, `k${k} in publish order`);
  t.equal(overlap, 0, "never two events of one key at once");
  t.ok(concurrentKeys > 1, `other keys kept flowing (${concurrentKeys} keys at once)`);
});
