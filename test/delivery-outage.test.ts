/**
 * Outages under a real gateway process: Redis restarted (and emptied) while it runs, and its
 * Postgres database refusing connections. Delivery pauses without ACKing, loses nothing, and
 * resumes by itself; nothing is delivered twice.
 */
import t from "tap";
import { Redis } from "ioredis";
import postgres from "postgres";
import { PG_ADMIN_URL, PUBLISH_TOKEN, testEnv } from "./helpers/env.js";
import { envelope } from "./helpers/http.js";
import { spawnGateway, startRedis } from "./helpers/processes.js";
import { PROCESS_ENV, eventually } from "./helpers/delivery.js";
import { call, deliverMarker, publishMany, tally } from "./helpers/gateway.js";
import { startReceiver } from "./helpers/receiver.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ids = (rs: { headers: Record<string, unknown> }[]) => rs.map((r) => String(r.headers["webhook-id"]));

t.test("Redis restarted under a gateway: ingest answers 503 during the outage, delivery resumes after", async (t) => {
  const redis = await startRedis(t);
  const receiver = await startReceiver(t);
  const env = await testEnv(t, { ...PROCESS_ENV, REDIS_URL: redis.url });
  const gw = await spawnGateway(t, env);
  t.equal(
    (await call(gw.url, "POST", "/v1/subscribers", { name: "steady", url: receiver.url, event_types: ["*"] })).status,
    201,
  );
  const before = await publishMany(gw.url, 20);
  await receiver.waitFor(20);

  await redis.stop();
  const started = Date.now();
  const during = await call(gw.url, "POST", "/v1/events", envelope(), PUBLISH_TOKEN);
  t.equal(during.status, 503, "ingest answers 503 while Redis is down");
  t.ok(Date.now() - started < 5000, "at once");
  // Kept as a pause: this is the outage itself, long enough for the gateway's connections to fail.
  await sleep(1000);

  // A restarted Redis without persistence comes back empty: stream and group are gone.
  await redis.start();
  const after = await eventually(() => publishMany(gw.url, 20).catch(() => null), 20_000, "ingest to work again");
  await receiver.waitFor(40, 20_000);
  const marker = await deliverMarker(gw.url, { steady: receiver });
  // max_in_flight delivers concurrently: the order of requests is not promised, each id once is.
  t.same(ids(receiver.requests).sort(), [...before, ...after, marker].sort(), "every event delivered once");
});

t.test(
  "Postgres unavailable to the gateway: no delivery and no ACK meanwhile, nothing lost, resumes by itself",
  async (t) => {
    const receiver = await startReceiver(t);
    const env = await testEnv(t, PROCESS_ENV);
    const gw = await spawnGateway(t, env);
    t.equal(
      (await call(gw.url, "POST", "/v1/subscribers", { name: "patient", url: receiver.url, event_types: ["*"] }))
        .status,
      201,
    );
    const before = await publishMany(gw.url, 5);
    await receiver.waitFor(5);
    const redis = new Redis(env["REDIS_URL"]!);
    const pending = async () => Number(((await redis.xpending(env["BRAIN_STREAM"]!, "patient")) as [number])[0]);
    await eventually(async () => (await pending()) === 0, 5000, "the first events to be settled");

    const dbName = new URL(env["DATABASE_URL"]!).pathname.slice(1);
    const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    t.teardown(async () => {
      await admin.unsafe(`alter database ${dbName} allow_connections true`);
      await admin.end();
      redis.disconnect();
    });
    // A real outage for this gateway: its database refuses new connections and loses the open ones.
    await admin.unsafe(`alter database ${dbName} allow_connections false`);
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${dbName}`;

    const events = Array.from({ length: 20 }, () => envelope());
    const ingest = await call(gw.url, "POST", "/v1/events/batch", { events }, PUBLISH_TOKEN);
    t.equal(ingest.status, 202, "ingest keeps working without Postgres");
    const during = (ingest.body.results as { stream_message_id: string }[]).map((r) => r.stream_message_id);
    t.equal(new Set(during).size, 20, "every event of the batch was appended");
    // Marker step: the consumer has read the new entries and failed their dedup check twice, so a
    // delivery that skipped the check would have been made by now.
    await eventually(() => gw.stderr().split("dedup check failed").length > 2, 10_000, "the dedup check to fail twice");
    t.equal(receiver.requests.length, 5, "nothing is delivered while the dedup table is unreachable");
    const groups = (await redis.xinfo("GROUPS", env["BRAIN_STREAM"]!)) as unknown[][];
    const lag = Number(groups[0]![groups[0]!.indexOf("lag") + 1]);
    t.equal((await pending()) + lag, 20, "the 20 new events are pending or unread: none was ACKed");

    await admin.unsafe(`alter database ${dbName} allow_connections true`);
    await receiver.waitFor(25, 30_000);
    const marker = await deliverMarker(gw.url, { patient: receiver });
    const counts = tally(ids(receiver.requests));
    // max_in_flight delivers concurrently: the order of requests is not promised.
    t.same([...counts.keys()].sort(), [...before, ...during, marker].sort(), "every event delivered");
    t.ok(
      [...counts.values()].every((n) => n === 1),
      "none twice",
    );
  },
);
