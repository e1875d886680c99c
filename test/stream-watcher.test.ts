/**
 * The stream watcher (src/stream/watcher.ts): one blocking XREAD for every consumer of a process.
 * A consumer that took the version before its read is woken by any later entry, at once when it
 * wants the entry's type and within a lazy tick when it does not; closing unblocks the read at once.
 */
import t from "tap";
import { Redis } from "ioredis";
import { REDIS_URL, unique, type Test } from "./helpers/env.js";
import { deliveryConnection } from "../src/stream/connections.js";
import { StreamWatcher } from "../src/stream/watcher.js";

const elapsed = async (p: Promise<void>, limitMs: number): Promise<number> => {
  const from = Date.now();
  const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), limitMs).unref());
  const won = await Promise.race([p.then(() => "woken" as const), timeout]);
  return won === "timeout" ? Infinity : Date.now() - from;
};

async function setup(t: Test, partitions = 1) {
  const streams = Array.from({ length: partitions }, (_, i) => `${unique("test:watch")}:${i}`);
  const redis = deliveryConnection(REDIS_URL);
  const admin = new Redis(REDIS_URL);
  const errors: Error[] = [];
  const watcher = new StreamWatcher(redis, streams, (err) => errors.push(err));
  t.teardown(async () => {
    await watcher.close();
    await admin.del(...streams);
    admin.disconnect();
    redis.disconnect();
  });
  const add = (type: string, stream = streams[0]!) =>
    // eslint-disable-next-line no-restricted-properties -- raw entries: the watcher is under test, not routing
    admin.xadd(stream, "*", "event", JSON.stringify({ type }));
  // The watcher learns each stream's end first: a consumer's first wait returns once it has.
  const ready = async (watch: { version(): number; wait(m: number): Promise<void> }) => {
    if (watch.version() === 0) await watch.wait(0);
  };
  return { streams, watcher, admin, add, ready, errors };
}

t.test("a wanted entry wakes a waiting consumer at once; one it does not want, within the lazy tick", async (t) => {
  const { streams, watcher, add, ready } = await setup(t);
  const orders = watcher.watch(streams[0]!, "orders", (type) => type.startsWith("order."));
  const audit = watcher.watch(streams[0]!, "audit", (type) => type === "audit.done");
  await ready(orders);
  const mark = orders.version();
  const wantedBy = { orders: orders.wait(mark), audit: audit.wait(audit.version()) };
  await add("order.placed");
  t.ok((await elapsed(wantedBy.orders, 500)) < 500, "the consumer wanting order.placed woke at once");
  t.ok((await elapsed(wantedBy.audit, 2500)) < 2500, "the other woke within the lazy tick, to ACK what it skips");
});

t.test("no lost wakeup: an entry appended after the version was taken wakes the wait, however late", async (t) => {
  const { streams, watcher, admin, add, ready } = await setup(t);
  await admin.xgroup("CREATE", streams[0]!, "g", "$", "MKSTREAM");
  const watch = watcher.watch(streams[0]!, "g", () => true);
  await ready(watch);
  const mark = watch.version(); // taken before the consumer's read
  await add("x.y"); // appended after the read returned empty, before the consumer waits
  await new Promise((r) => setTimeout(r, 200)); // the watcher has seen it by now
  t.ok((await elapsed(watch.wait(mark), 100)) < 100, "the wait returns at once: the version moved");
  const stale = watch.version();
  t.equal(await elapsed(watch.wait(stale), 1500), Infinity, "with nothing new, the wait keeps waiting");
});

t.test("one blocking connection for every partition and consumer; closing unblocks it at once", async (t) => {
  const { streams, watcher, admin, add, ready } = await setup(t, 3);
  const watches = Array.from({ length: 50 }, (_, i) => watcher.watch(streams[i % 3]!, `g${i}`, () => true));
  await Promise.all(watches.map(ready));
  const name = `brain:${process.pid}:watch`;
  const list = String(await admin.client("LIST"));
  t.equal(list.split("\n").filter((l) => l.includes(` name=${name} `)).length, 1, "one watch connection");
  const third = watches[2]!;
  const woken = third.wait(third.version());
  await add("x.y", streams[2]);
  t.ok((await elapsed(woken, 500)) < 500, "an entry in the third partition woke its consumer");
  const waiting = watches[0]!.wait(watches[0]!.version());
  const closing = Date.now();
  await watcher.close();
  t.ok(Date.now() - closing < 1000, "close did not wait for the 5 s block");
  t.ok((await elapsed(waiting, 100)) < 100, "a waiting consumer is released");
});

t.test("a consumer whose group vanished is woken to heal it, though no entry arrived", async (t) => {
  const { streams, watcher, admin, add, ready } = await setup(t);
  await add("x.y");
  await admin.xgroup("CREATE", streams[0]!, "present", "$");
  const present = watcher.watch(streams[0]!, "present", () => true);
  const missing = watcher.watch(streams[0]!, "missing", () => true);
  await ready(present);
  const stays = present.wait(present.version());
  t.ok((await elapsed(missing.wait(missing.version()), 3500)) < 3500, "woken by the 2 s look at the groups");
  t.equal(await elapsed(stays, 100), Infinity, "a group at the tail is left waiting");
});

t.test("a consumer of a rare type stays lazy while other types flow, and wakes at once for its own", async (t) => {
  const { streams, watcher, admin, add, ready } = await setup(t);
  await admin.xgroup("CREATE", streams[0]!, "rare", "$", "MKSTREAM");
  const watch = watcher.watch(streams[0]!, "rare", (type) => type === "rare.seen");
  await ready(watch);
  let mark = watch.version();
  await add("busy.one");
  await new Promise((r) => setTimeout(r, 200)); // seen by the watcher before the consumer waits
  const lazy = elapsed(watch.wait(mark), 2500);
  const ms = await lazy;
  t.ok(ms >= 600 && ms < 2500, `woken lazily, after ${ms} ms, not on the busy entry`);
  mark = watch.version();
  await add("busy.two");
  await add("rare.seen");
  await new Promise((r) => setTimeout(r, 200));
  t.ok((await elapsed(watch.wait(mark), 100)) < 100, "a wanted entry among the recent ones: at once");
});
