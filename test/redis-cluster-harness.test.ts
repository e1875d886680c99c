import t from "tap";
import { setTimeout as sleep } from "node:timers/promises";
import { Cluster, Redis } from "ioredis";
import { startCluster } from "./helpers/redis-cluster.js";

// The retry budget (500 ms × 64) outlasts a failover at the 2 s node timeout (NOTES-cluster.md §1).
const TUNED = { retryDelayOnFailover: 500, retryDelayOnClusterDown: 500, maxRedirections: 64 };

/** One admin command on one node, on a connection of its own that never retries. */
async function ask(port: number, ...args: (string | number)[]): Promise<unknown> {
  const r = new Redis(port, "127.0.0.1", { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on("error", () => {});
  try {
    await r.connect();
    return await r.call(String(args[0]), ...args.slice(1));
  } finally {
    r.disconnect();
  }
}

t.test("a local Redis Cluster of 3 masters and 3 replicas for fault tests", async (t) => {
  const startedAt = Date.now();
  const cluster = await startCluster(t);
  t.comment(`cluster started and healthy in ${Date.now() - startedAt} ms`);

  const client = new Cluster(
    cluster.seeds.split(",").map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) })),
    TUNED,
  );
  client.on("error", () => {}); // a node going away is what these tests are about
  t.teardown(() => client.disconnect());

  t.test("every node is up, the state is ok and each master has one replica", async (t) => {
    t.equal(cluster.nodes.length, 6);
    t.equal(cluster.seeds, cluster.nodes.map((n) => n.url).join(","));
    t.ok(cluster.nodes.every((n) => n.alive()));
    t.match(String(await ask(cluster.nodes[0]!.port, "CLUSTER", "INFO")), /cluster_state:ok\r\n/);
    const lines = String(await ask(cluster.nodes[0]!.port, "CLUSTER", "NODES"))
      .trim()
      .split("\n")
      .map((line) => line.split(" "));
    const masters = lines.filter((l) => l[2]?.includes("master"));
    t.equal(masters.length, 3, "3 masters");
    for (const m of masters) {
      t.equal(lines.filter((l) => l[3] === m[0]).length, 1, `master ${m[1]} has one replica`);
      const port = Number(m[1]!.split("@")[0]!.split(":")[1]);
      const replica = await cluster.replicaOf(port);
      t.ok(replica !== undefined && replica !== port, `replicaOf(${port}) = ${replica}`);
    }
    t.equal(await cluster.masterOf(0), await cluster.masterOf(1), "one master serves neighbouring slots");
  });

  t.test("keys on several hash tags are written and read through a Cluster client", async (t) => {
    const tags = ["{a}", "{b}", "{c}", "{d}", "{e}", "{f}", "{g}", "{h}"];
    const owners = new Set<number>();
    for (const tag of tags) {
      await client.set(`${tag}:k`, tag);
      t.equal(await client.get(`${tag}:k`), tag);
      owners.add(await cluster.masterOf(Number(await client.cluster("KEYSLOT", tag))));
    }
    t.equal(owners.size, 3, "the tags land on all three masters");
  });

  t.test("SIGKILL of a master: its replica takes over, and the old master rejoins as a replica", async (t) => {
    const tag = "{failover}";
    const slot = Number(await client.cluster("KEYSLOT", tag));
    const oldMaster = await cluster.masterOf(slot);
    const replica = await cluster.replicaOf(oldMaster);
    t.ok(replica, `master ${oldMaster} of slot ${slot} has replica ${replica}`);
    // Replication is asynchronous: only a write the replica has acknowledged may be expected to survive.
    const master = new Redis(oldMaster, "127.0.0.1", { maxRetriesPerRequest: 0, retryStrategy: () => null });
    master.on("error", () => {});
    await master.set(`${tag}:acked`, "kept");
    t.equal(await master.wait(1, 5000), 1, "the replica acknowledged the write");
    master.disconnect();

    const killedAt = Date.now();
    await cluster.kill(oldMaster);
    t.notOk(cluster.nodes.find((n) => n.port === oldMaster)!.alive());
    let newMaster = oldMaster;
    while (Date.now() - killedAt < 15_000) {
      newMaster = await cluster.masterOf(slot);
      if (newMaster !== oldMaster) break;
      await sleep(100);
    }
    const promotedMs = Date.now() - killedAt;
    t.equal(newMaster, replica, `the replica was promoted, ${promotedMs} ms after the kill`);

    await client.set(`${tag}:after`, "written");
    const writableMs = Date.now() - killedAt;
    t.equal(await client.get(`${tag}:after`), "written", `writes succeed again, ${writableMs} ms after the kill`);
    t.equal(await client.get(`${tag}:acked`), "kept", "the acknowledged write survived");

    const restartAt = Date.now();
    await cluster.restart(oldMaster);
    await cluster.waitHealthy();
    t.comment(`restarted and healthy again in ${Date.now() - restartAt} ms`);
    const role = (await ask(oldMaster, "ROLE")) as [string, string, number, string];
    t.equal(role[0], "slave", "the old master is a replica now");
    t.equal(Number(role[2]), newMaster, "of the promoted one");
    t.equal(await cluster.replicaOf(newMaster), oldMaster);
    t.equal(await cluster.masterOf(slot), newMaster);
  });

  t.test("pause and resume a replica; stop kills every node, twice is fine", async (t) => {
    const replica = (await cluster.replicaOf(await cluster.masterOf(0)))!;
    cluster.pause(replica);
    const paused = ask(replica, "PING");
    await sleep(300);
    t.ok(cluster.nodes.find((n) => n.port === replica)!.alive(), "a paused node still runs");
    cluster.resume(replica);
    t.equal(await paused, "PONG", "and answers once resumed");
    await cluster.waitHealthy();

    client.disconnect();
    await cluster.stop();
    await cluster.stop();
    t.ok(cluster.nodes.every((n) => !n.alive()));
    await t.rejects(ask(cluster.nodes[0]!.port, "PING"));
  });
});
