/**
 * Outages under a real gateway process: Redis restarted (and emptied) while it runs, and its
 * Postgres database refusing connections. Delivery pauses without ACKing, loses nothing, and
 * resumes by itself; nothing is delivered twice.
 */
import t from "tap";
import { Redis } from "ioredis";
import postgres from "postgres";
import { envelope, PG_ADMIN_URL, PUBLISH_TOKEN, spawnGateway, startRedis, testEnv } from "./helpers/app.js";
import { PROCESS_ENV, eventually } from "./helpers/delivery.js";
import { call, publishMany, tally } from "./helpers/gateway.js";
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
  await sleep(1000);

  // A restarted Redis without persistence comes back empty: stream and group are gone.
  await redis.start();
  const after = await eventually(() => publishMany(gw.url, 20).catch(() => null), 20_000, "ingest to work again");
  await receiver.waitFor(40, 20_000);
  await sleep(500);
  t.same(ids(receiver.requests), [...before, ...after], "every event delivered once, in order");
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

    const during = await publishMany(gw.url, 20);
    t.pass("ingest keeps working without Postgres");
    await sleep(3000);
    t.equal(receiver.requests.length, 5, "nothing is delivered while the dedup table is unreachable");
    const groups = (await redis.xinfo("GROUPS", env["BRAIN_STREAM"]!)) as unknown[][];
    const lag = Number(groups[0]![groups[0]!.indexOf("lag") + 1]);
    t.equal((await pending()) + lag, 20, "the 20 new events are pending or unread: none was ACKed");

    await admin.unsafe(`alter database ${dbName} allow_connections true`);
    await receiver.waitFor(25, 30_000);
    await sleep(500);
    const counts = tally(ids(receiver.requests));
    t.same([...counts.keys()], [...before, ...during], "every event delivered, in order");
    t.ok(
      [...counts.values()].every((n) => n === 1),
      "none twice",
    );
    await eventually(async () => (await pending()) === 0, 10_000, "nothing pending");
  },
);
