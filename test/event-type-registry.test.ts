/**
 * EventTypeRegistry, the copy of the registry each process holds: it notices a change made
 * elsewhere by polling the version, recompiles only schemas that changed, and keeps the registry it
 * last loaded while Redis cannot be reached (against a throwaway redis-server it can stop).
 */
import t from "tap";
import { EventTypeRegistry, POLL_MS } from "../src/ingest/registry.js";
import { requestConnection } from "../src/stream/connections.js";
import { removeEventType, writeEventType } from "../src/stream/event-types.js";
import { streamKeys } from "../src/stream/keys.js";
import { unique } from "./helpers/env.js";
import { startRedis } from "./helpers/processes.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const entry = (description: string, schema: object) =>
  JSON.stringify({ description, schema, deprecated: false, updated_at: new Date().toISOString() });

t.test("a change made elsewhere is picked up by polling; unchanged schemas are not compiled again", async (t) => {
  const redis = await startRedis(t);
  const keys = streamKeys(unique("registry"));
  const conn = requestConnection(redis.url);
  conn.on("error", () => {});
  await conn.connect();
  t.teardown(() => conn.disconnect());
  const warnings: string[] = [];
  const log = { warn: (_: object, m: string) => warnings.push(m), error: (_: object, m: string) => warnings.push(m) };
  const registry = new EventTypeRegistry(conn, keys, log);
  t.teardown(() => registry.stop());
  await registry.start();
  t.ok(registry.loaded);
  t.equal(registry.lookup("a.type"), undefined);

  const now = new Date().toISOString();
  await writeEventType(conn, keys, "a.type", entry("one", { required: ["x"] }), now, 10);
  await writeEventType(conn, keys, "b.type", entry("two", { required: ["y"] }), now, 10);
  const deadline = Date.now() + 5 * POLL_MS;
  while (registry.lookup("b.type") === undefined && Date.now() < deadline) await sleep(50);
  const a = registry.lookup("a.type");
  t.ok(a?.schema?.check({ x: 1 }), "a.type is checked");
  t.notOk(a?.schema?.check({}), "and refuses what its schema refuses");

  await writeEventType(conn, keys, "a.type", entry("new description", { required: ["x"] }), now, 10);
  await writeEventType(conn, keys, "b.type", entry("two", { required: ["z"] }), now, 10);
  await registry.load();
  t.not(registry.lookup("a.type"), a, "a.type's entry changed");
  t.equal(
    registry.lookup("a.type")!.schema,
    a!.schema,
    "but its compiled schema is reused: only the description moved",
  );
  t.ok(registry.lookup("b.type")!.schema!.check({ z: 1 }), "b.type's new schema is compiled");
  t.notOk(registry.lookup("b.type")!.schema!.check({ y: 1 }));

  await removeEventType(conn, keys, "b.type");
  await registry.load();
  t.equal(registry.lookup("b.type"), undefined);
  t.same(warnings, []);
});

t.test("while Redis cannot be reached the last registry stays in force; a flushed Redis empties it", async (t) => {
  const redis = await startRedis(t);
  const keys = streamKeys(unique("registry"));
  const conn = requestConnection(redis.url);
  conn.on("error", () => {});
  await conn.connect();
  t.teardown(() => conn.disconnect());
  const warnings: string[] = [];
  const log = { warn: (_: object, m: string) => warnings.push(m), error: (_: object, m: string) => warnings.push(m) };
  const registry = new EventTypeRegistry(conn, keys, log);
  t.teardown(() => registry.stop());
  await writeEventType(conn, keys, "kept.type", entry("", { required: ["x"] }), new Date().toISOString(), 10);
  await registry.start();

  await redis.stop();
  await sleep(3 * POLL_MS);
  t.notOk(registry.lookup("kept.type")?.schema?.check({}), "still enforced during the outage");
  await t.rejects(registry.load(), { code: "STREAM_UNAVAILABLE" }, "a load now fails as ingest would answer");
  t.ok(registry.lookup("kept.type"), "and a failed load changes nothing");
  t.same(
    warnings.filter((w) => w.startsWith("event-type registry not reloaded")).length,
    1,
    "the outage is reported once",
  );

  // This redis-server keeps nothing on disk: it comes back empty, and so does the registry.
  await redis.start();
  const deadline = Date.now() + 10_000;
  while (registry.lookup("kept.type") !== undefined && Date.now() < deadline) await sleep(50);
  t.equal(registry.lookup("kept.type"), undefined, "the empty registry is loaded once Redis answers");
  t.ok(warnings.includes("event-type registry reachable again"));
});
