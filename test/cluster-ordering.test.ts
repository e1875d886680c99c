/**
 * Per-key ordered delivery (`ordering: "key"`) on a real Redis Cluster with 16 partitions: a
 * receiver that fails 20 % of requests at random sees, for every ordering_key, the successful
 * deliveries in publish order and never two requests of one key at once; the same holds with two
 * gateway processes when one is SIGKILLed midway (its partitions are taken over in order).
 */
import t, { type Test } from "tap";
import { setTimeout as sleep } from "node:timers/promises";
import { PUBLISH_TOKEN, testEnv, unique } from "./helpers/env.js";
import { PROCESS_ENV } from "./helpers/delivery.js";
import { call } from "./helpers/gateway.js";
import { envelope } from "./helpers/http.js";
import { spawnGateway } from "./helpers/processes.js";
import { startReceiver, type Received, type Receiver } from "./helpers/receiver.js";
import { startCluster, type TestCluster } from "./helpers/redis-cluster.js";

const KEYS = 20;
const PER_KEY = 100;

interface Delivery {
  key: string;
  seq: number;
}

/**
 * A receiver failing 20 % of requests at random. It records each success (in arrival order), and
 * the most requests of one key it ever had open at once.
 */
async function flakyReceiver(t: Test): Promise<{ receiver: Receiver; ok: Delivery[]; maxOpenPerKey: () => number }> {
  const receiver = await startReceiver(t);
  const ok: Delivery[] = [];
  const open = new Map<string, number>();
  let maxOpen = 0;
  const parse = (r: Received) => JSON.parse(r.body) as { ordering_key: string; payload: { seq: number } };
  receiver.answer = (req) => {
    const body = parse(req);
    const n = (open.get(body.ordering_key) ?? 0) + 1;
    open.set(body.ordering_key, n);
    maxOpen = Math.max(maxOpen, n);
    const fail = Math.random() < 0.2;
    const delayMs = Math.floor(Math.random() * 4);
    setTimeout(() => open.set(body.ordering_key, open.get(body.ordering_key)! - 1), delayMs);
    if (!fail) ok.push({ key: body.ordering_key, seq: body.payload.seq });
    return { status: fail ? 500 : 200, delayMs };
  };
  return { receiver, ok, maxOpenPerKey: () => maxOpen };
}

/** The events of `round` (0-based): key k's events carry seq round*… in publish order. */
function batch(from: number, count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    const key = `robot-${n % KEYS}`;
    return envelope({ id: `ev-${n}`, ordering_key: key, payload: { seq: Math.floor(n / KEYS) } });
  });
}

/** Per key: the successful seqs with consecutive repeats (redeliveries after a crash) collapsed. */
function byKey(ok: Delivery[]): Map<string, { seqs: number[]; repeats: number }> {
  const m = new Map<string, { seqs: number[]; repeats: number }>();
  for (const { key, seq } of ok) {
    const entry = m.get(key) ?? { seqs: [], repeats: 0 };
    if (entry.seqs.at(-1) === seq) entry.repeats++;
    else entry.seqs.push(seq);
    m.set(key, entry);
  }
  return m;
}

function assertOrdered(t: Test, ok: Delivery[]): number {
  const keys = byKey(ok);
  t.equal(keys.size, KEYS, "every key was delivered");
  let repeats = 0;
  for (const [key, { seqs, repeats: r }] of keys) {
    repeats += r;
    const expected = Array.from({ length: PER_KEY }, (_, i) => i);
    if (JSON.stringify(seqs) !== JSON.stringify(expected)) {
      t.fail(`${key}: successful deliveries out of publish order or incomplete: ${seqs.join(",")}`);
      return repeats;
    }
  }
  t.pass(`for each of ${KEYS} keys the ${PER_KEY} successful deliveries came in publish order`);
  return repeats;
}

async function gatewayEnv(t: Test, cluster: TestCluster, logLevel = "warn"): Promise<Record<string, string>> {
  return testEnv(t, {
    ...PROCESS_ENV,
    LOG_LEVEL: logLevel,
    REDIS_URL: cluster.seeds,
    BRAIN_REDIS_MODE: "cluster",
    BRAIN_STREAM_PARTITIONS: "16",
    BRAIN_STREAM: unique("ord"),
  });
}

async function subscribe(base: string, receiver: Receiver): Promise<void> {
  const res = await call(base, "POST", "/v1/subscribers", {
    name: "ordered",
    url: receiver.url,
    event_types: ["*"],
    start_from: "earliest",
    ordering: "key",
    max_attempts: 50,
  });
  if (res.status !== 201) throw new Error(`subscriber: ${res.status} ${JSON.stringify(res.body)}`);
}

async function publish(base: string, from: number, count: number): Promise<void> {
  const res = await call(base, "POST", "/v1/events/batch", { events: batch(from, count) }, PUBLISH_TOKEN);
  if (res.status !== 202) throw new Error(`publish: ${res.status} ${JSON.stringify(res.body)}`);
}

async function untilDelivered(ok: Delivery[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (byKey(ok).size < KEYS || [...byKey(ok).values()].some((k) => k.seqs.length < PER_KEY)) {
    if (Date.now() > deadline) throw new Error(`only ${ok.length} successful deliveries after ${timeoutMs} ms`);
    await sleep(50);
  }
}

t.test("ordered delivery on a 16-partition cluster stream", async (t) => {
  const cluster = await startCluster(t);

  t.test("2,000 events over 20 keys, 20 % of requests failing: each key in publish order", async (t) => {
    const env = await gatewayEnv(t, cluster);
    const gw = await spawnGateway(t, env);
    const { receiver, ok, maxOpenPerKey } = await flakyReceiver(t);
    await subscribe(gw.url, receiver);
    for (let from = 0; from < KEYS * PER_KEY; from += 250) await publish(gw.url, from, 250);
    await untilDelivered(ok, 60_000);
    const repeats = assertOrdered(t, ok);
    t.equal(repeats, 0, "no event delivered twice while no process failed");
    t.equal(maxOpenPerKey(), 1, "never two requests of one key open at once");
    const failed = receiver.requests.length - ok.length;
    t.ok(failed > 200, `the receiver failed ${failed} of ${receiver.requests.length} requests`);
    const sub = await call(gw.url, "GET", "/v1/subscribers/ordered");
    t.equal(sub.body.ordering, "key");
    t.equal(sub.body.stats.dead_lettered, 0);
  });

  t.test("two gateway processes, one SIGKILLed midway: every key still in publish order", async (t) => {
    const env = await gatewayEnv(t, cluster, "info");
    const a = await spawnGateway(t, env);
    const b = await spawnGateway(t, env);
    const { receiver, ok, maxOpenPerKey } = await flakyReceiver(t);
    await subscribe(a.url, receiver);
    const total = KEYS * PER_KEY;
    for (let from = 0; from < total / 2; from += 100) await publish(b.url, from, 100);
    // Midway through delivery, once the two processes share the partitions (the first to start
    // takes them all, then hands them over one by one as the second joins).
    const taking = /now consumes the partition/;
    while (ok.length < total / 4 || !taking.test(a.stderr()) || !taking.test(b.stderr())) await sleep(20);
    const before = b.stderr().length;
    a.child.kill("SIGKILL");
    await a.exited;
    for (let from = total / 2; from < total; from += 100) await publish(b.url, from, 100);
    await untilDelivered(ok, 90_000);
    const repeats = assertOrdered(t, ok);
    t.match(b.stderr().slice(before), /now consumes the partition/, "B took A's partitions over");
    t.comment(`${repeats} redelivered right after the crash (at-least-once: 2xx seen, not yet recorded)`);
    t.ok(maxOpenPerKey() <= 2, "at most the crashed process's last request overlapped its successor's");
  });
});
