/**
 * The gateway on a real Redis Cluster (3 masters + 3 replicas from redis-server on spare ports):
 * a 16-partition stream spread over the masters, ingest single and batch across partitions,
 * two webhook subscribers that each get every event exactly once, per-partition identity, a live
 * tail over every partition, a replay over every partition, and a vanished group in one partition
 * healing without touching the others.
 */
import t from "tap";
import calculateSlot from "cluster-key-slot";
import { Cluster } from "ioredis";
import { PUBLISH_TOKEN, testEnv, unique } from "./helpers/env.js";
import { eventually, PROCESS_ENV } from "./helpers/delivery.js";
import { call, tally } from "./helpers/gateway.js";
import { envelope } from "./helpers/http.js";
import { spawnGateway } from "./helpers/processes.js";
import { startReceiver, type Receiver } from "./helpers/receiver.js";
import { startCluster } from "./helpers/redis-cluster.js";
import { openTail } from "./helpers/tail.js";
import { partitionTag } from "../src/stream/keys.js";

const PARTITIONS = 16;

const eventIds = (r: Receiver) => r.requests.map((q) => String(q.headers["x-brain-event-id"]));

t.test("a 16-partition stream on Redis Cluster, delivered exactly once to two subscribers", async (t) => {
  const cluster = await startCluster(t);
  const stream = unique("cl");
  const env = await testEnv(t, {
    ...PROCESS_ENV,
    LOG_LEVEL: "warn",
    REDIS_URL: cluster.seeds,
    BRAIN_REDIS_MODE: "cluster",
    BRAIN_STREAM_PARTITIONS: String(PARTITIONS),
    BRAIN_STREAM: stream,
  });
  const gw = await spawnGateway(t, env);
  const seeds = cluster.seeds.split(",").map((u) => ({ host: "127.0.0.1", port: Number(new URL(u).port) }));
  const admin = new Cluster(seeds, { retryDelayOnFailover: 500, maxRedirections: 32 });
  admin.on("error", () => {});
  t.teardown(() => admin.disconnect());

  t.test("the partitions spread over all three masters", async (t) => {
    const owners = new Map<number, number>();
    for (let i = 0; i < PARTITIONS; i++) {
      const master = await cluster.masterOf(calculateSlot(partitionTag(stream, i, PARTITIONS)));
      owners.set(master, (owners.get(master) ?? 0) + 1);
    }
    t.equal(owners.size, 3);
    // The split depends on the stream name: 5/5/6 in some order for most names, 6/4/6 for about
    // one in ten (bench/RESULTS.md, "Redis Cluster").
    t.ok(
      [...owners.values()].every((n) => n >= 4 && n <= 6),
      `partitions per master: ${[...owners.values()]}`,
    );
    const ready = await call(gw.url, "GET", "/health/ready");
    t.equal(ready.status, 200, "ready reports the cluster's state ok");
  });

  const a = await startReceiver(t);
  const b = await startReceiver(t);
  for (const [name, r] of [
    ["cl-a", a],
    ["cl-b", b],
  ] as const) {
    const res = await call(gw.url, "POST", "/v1/subscribers", {
      name,
      url: r.url,
      event_types: ["*"],
      start_from: "earliest",
    });
    t.equal(res.status, 201, `subscriber ${name} created (a group on each partition)`);
  }

  const accepted: string[] = [];
  const streamIds: string[] = [];
  const beforeIngest = new Date(Date.now() - 1000).toISOString();

  t.test("single events and batches spanning partitions are accepted with partition-qualified ids", async (t) => {
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const res = await call(gw.url, "POST", "/v1/events", envelope({ id: `one-${i}` }), PUBLISH_TOKEN);
        t.equal(res.status, 202);
        accepted.push(res.body.id);
        streamIds.push(res.body.stream_message_id);
      }),
    );
    for (let batch = 0; batch < 6; batch++) {
      const events = Array.from({ length: 50 }, (_, i) => envelope({ id: `b${batch}-${i}` }));
      const res = await call(gw.url, "POST", "/v1/events/batch", { events }, PUBLISH_TOKEN);
      t.equal(res.status, 202, `batch ${batch}`);
      for (const r of res.body.results as { id: string; stream_message_id: string }[]) {
        accepted.push(r.id);
        streamIds.push(r.stream_message_id);
      }
    }
    const partitions = new Set(streamIds.map((id) => Number(id.split(":")[0])));
    t.equal(partitions.size, PARTITIONS, "400 events reach every partition");
    t.ok(
      streamIds.every((id) => /^([0-9]|1[0-5]):[0-9]+-[0-9]+$/.test(id)),
      "every stream id carries its partition",
    );
    const replay = await call(
      gw.url,
      "POST",
      "/v1/events/batch",
      { events: [envelope({ id: "b0-0" })] },
      PUBLISH_TOKEN,
    );
    t.equal(replay.body.results[0].replayed, true, "an id accepted before replays from its partition");
    t.equal(replay.body.results[0].stream_message_id, streamIds[accepted.indexOf("b0-0")]);
  });

  t.test("each subscriber gets every event exactly once", async (t) => {
    for (const r of [a, b]) await r.waitFor(accepted.length, 60_000);
    for (const r of [a, b]) {
      const counts = tally(eventIds(r));
      t.equal(counts.size, accepted.length, "every accepted event arrived");
      t.ok(
        [...counts.values()].every((n) => n === 1),
        "none twice",
      );
      const webhookIds = new Set(r.requests.map((q) => String(q.headers["webhook-id"])));
      t.same([...webhookIds].sort(), [...streamIds].sort(), "webhook-id is the partition-qualified stream id");
    }
    // The last requests were answered; their dedup rows and ACKs follow within a group commit.
    let stats = (await call(gw.url, "GET", "/v1/subscribers/cl-a")).body.stats;
    for (let i = 0; i < 100 && stats.pending > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      stats = (await call(gw.url, "GET", "/v1/subscribers/cl-a")).body.stats;
    }
    t.equal(stats.delivered, accepted.length, "stats count deliveries over all partitions");
    t.equal(stats.pending, 0);
  });

  t.test("browsing walks the partitions in turn, ids carrying their partition", async (t) => {
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const q: string = after === null ? "" : `&after=${encodeURIComponent(after)}`;
      const page = await call(gw.url, "GET", `/v1/events?limit=100${q}`);
      t.equal(page.status, 200);
      if (page.body.events.length === 0) break;
      seen.push(...page.body.events.map((e: { stream_message_id: string }) => e.stream_message_id));
      after = page.body.next;
    }
    t.same(seen.sort(), [...streamIds].sort());
    const bare = await call(gw.url, "GET", "/v1/events?after=1-0");
    t.equal(bare.status, 400, "a bare id names no partition");
    const outside = await call(gw.url, "GET", "/v1/events?after=16:1-0");
    t.equal(outside.status, 400, "a partition the stream does not have");
  });

  t.test("a live tail sends every partition's new events once, in id order, and resumes from one id", async (t) => {
    // Its own stream and an API-only process: the subscribers above never see these events.
    const api = await spawnGateway(t, { ...env, BRAIN_ROLE: "api", BRAIN_STREAM: unique("cl-tail") });
    const port = Number(new URL(api.url).port);
    const tail = await openTail(port);
    t.equal(tail.res.statusCode, 200);
    const sent = await Promise.all(
      Array.from({ length: 48 }, async (_, i) => {
        const res = await call(api.url, "POST", "/v1/events", envelope({ ordering_key: `k${i}` }), PUBLISH_TOKEN);
        return res.body.stream_message_id as string;
      }),
    );
    t.ok(new Set(sent.map((id) => id.split(":")[0])).size > 8, "spread over the partitions");
    await eventually(() => tail.events().length >= sent.length, 5000, "every event on the tail");
    const ids = tail.events().map((e) => e.id);
    t.same([...ids].sort(), [...sent].sort(), "each new event once");
    const order = (id: string) => {
      const [partition, ms, seq] = id.split(/[:-]/).map(Number);
      return [ms!, seq!, partition!];
    };
    const sorted = [...ids].sort((x, y) => {
      const [a, b] = [order(x), order(y)];
      return a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
    });
    t.same(ids, sorted, "in (ms, seq, partition) order");
    tail.close();
    const resumed = await openTail(port, "", { "last-event-id": ids[20]! });
    await eventually(() => resumed.events().length >= sent.length - 21, 5000, "the rest");
    t.same(
      resumed.events().map((e) => e.id),
      ids.slice(21),
      "a resume sends exactly the rest",
    );
    resumed.close();
  });

  t.test("a replay by time re-sends every partition's entries once, marked x-brain-replay", async (t) => {
    const r = await startReceiver(t);
    const created = await call(gw.url, "POST", "/v1/subscribers", { name: "cl-r", url: r.url, event_types: ["*"] });
    t.equal(created.status, 201);
    const res = await call(gw.url, "POST", "/v1/subscribers/cl-r/replays", {
      from: beforeIngest,
      max_per_second: 1000,
    });
    t.equal(res.status, 202);
    const path = `/v1/subscribers/cl-r/replays/${res.body.id}`;
    let replay = res.body;
    for (let i = 0; i < 300 && replay.state !== "completed" && replay.state !== "failed"; i++) {
      await new Promise((done) => setTimeout(done, 100));
      replay = (await call(gw.url, "GET", path)).body;
    }
    t.match(replay, {
      state: "completed",
      total: streamIds.length,
      sent: streamIds.length,
      delivered: streamIds.length,
      failed: 0,
    });
    t.equal(replay.ranges.length, PARTITIONS, "one range per partition");
    const replayed = r.requests.filter((q) => q.headers["x-brain-replay"] === res.body.id);
    const webhookIds = replayed.map((q) => String(q.headers["webhook-id"]));
    t.same([...new Set(webhookIds)].sort(), [...streamIds].sort(), "every entry of every partition");
    t.equal(webhookIds.length, streamIds.length, "each once");
    t.equal(r.requests.length, replayed.length, "a replay only: the subscriber starts at the tail");
    t.equal((await call(gw.url, "DELETE", "/v1/subscribers/cl-r")).status, 204);
  });

  t.test("a group destroyed in one partition is recreated there alone; nothing is lost or repeated", async (t) => {
    const victim = 5;
    const key = partitionTag(stream, victim, PARTITIONS);
    const before = await Promise.all(
      Array.from({ length: PARTITIONS }, (_, i) => admin.xinfo("GROUPS", partitionTag(stream, i, PARTITIONS))),
    );
    await admin.xgroup("DESTROY", key, "cl-a");
    const more = Array.from({ length: 60 }, (_, i) => envelope({ id: `after-${i}` }));
    const res = await call(gw.url, "POST", "/v1/events/batch", { events: more }, PUBLISH_TOKEN);
    t.equal(res.status, 202);
    const ids = (res.body.results as { stream_message_id: string }[]).map((r) => r.stream_message_id);
    t.ok(
      ids.some((id) => id.startsWith(`${victim}:`)),
      "some of the new events land in the damaged partition",
    );
    const total = accepted.length + more.length;
    await a.waitFor(total, 60_000);
    await b.waitFor(total, 60_000);
    const counts = tally(eventIds(a));
    t.equal(counts.size, total);
    t.ok(
      [...counts.values()].every((n) => n === 1),
      "nothing delivered twice after the heal",
    );
    const after = await Promise.all(
      Array.from({ length: PARTITIONS }, (_, i) => admin.xinfo("GROUPS", partitionTag(stream, i, PARTITIONS))),
    );
    const names = (info: unknown) => (info as unknown[][]).map((g) => String(g[1])).sort();
    t.same(names(after[victim]), ["cl-a", "cl-b"], "the group is back in its partition");
    for (let i = 0; i < PARTITIONS; i++) {
      if (i !== victim) t.same(names(after[i]), names(before[i]), `partition ${i} kept its groups`);
    }
    // The log reaches this process through a pipe that a loaded machine may drain late.
    for (let i = 0; i < 100 && !/"partition":5[^\n]*NOGROUP/.test(gw.stderr()); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    t.match(gw.stderr(), /"partition":5[^\n]*NOGROUP/, "the heal is logged for partition 5 only");
    t.notMatch(gw.stderr(), /"partition":(?!5,)[0-9]+[^\n]*NOGROUP/);
  });

  t.test("ADR-001: a cluster whose state is not ok is not ready, and a required start refuses it", async (t) => {
    // A master and its replica gone: their slots have no owner, so the cluster state turns to fail.
    const master = await cluster.masterOf(calculateSlot(partitionTag(stream, 0, PARTITIONS)));
    const replica = await cluster.replicaOf(master);
    await cluster.kill(replica!);
    await cluster.kill(master);
    let ready = await call(gw.url, "GET", "/health/ready");
    for (let i = 0; i < 100 && ready.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ready = await call(gw.url, "GET", "/health/ready");
    }
    t.equal(ready.status, 503, "ready reports the cluster down");
    t.equal(ready.body.checks.redis, "down");
    const refused = await spawnGateway(t, { ...env, BRAIN_EVENTSTREAM_MODE: "required" });
    t.not(await refused.exited, 0, "a required start exits");
    t.match(refused.stderr(), /cannot reach the Redis Cluster \(state ok\) at redis:\/\/127\.0\.0\.1:[0-9]+,/);
    const degraded = await spawnGateway(t, { ...env, BRAIN_EVENTSTREAM_MODE: "degraded" });
    const res = await call(degraded.url, "POST", "/v1/events", envelope(), PUBLISH_TOKEN);
    t.equal(res.status, 503, "degraded starts and answers ingest 503");
    await cluster.restart(master);
    await cluster.restart(replica!);
    await cluster.waitHealthy();
    let back = res;
    for (let i = 0; i < 150 && back.status !== 202; i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = await call(degraded.url, "POST", "/v1/events", envelope(), PUBLISH_TOKEN);
    }
    t.equal(back.status, 202, "and recovers once the cluster is whole again");
  });
});
