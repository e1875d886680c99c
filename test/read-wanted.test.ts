/**
 * The filtered group read (brainReadWanted, src/stream/pel.ts `readWanted`): entries of types the
 * consumer does not handle are ACKed in Redis and not returned; anything whose type it cannot
 * read from the gateway's own serialization is returned for the consumer to decide. And the same
 * front read in JS (src/stream/entries.ts `entryType`), which the watcher and replays use.
 */
import t from "tap";
import { Redis } from "ioredis";
import { REDIS_URL, unique } from "./helpers/env.js";
import { deliveryConnection } from "../src/stream/connections.js";
import { readWanted } from "../src/stream/pel.js";
import { entryType } from "../src/stream/entries.js";

t.test("unwanted types are ACKed in Redis; wanted, unreadable and hostile ones come back", async (t) => {
  const stream = unique("test:wanted");
  const admin = new Redis(REDIS_URL);
  const redis = deliveryConnection(REDIS_URL);
  t.teardown(async () => {
    await admin.del(stream);
    admin.disconnect();
    redis.disconnect();
  });
  await admin.xgroup("CREATE", stream, "g", "$", "MKSTREAM");
  const add = (json: string) =>
    // eslint-disable-next-line no-restricted-properties -- raw entries of every shape: the read is under test
    admin.xadd(stream, "*", "event", json) as Promise<string>;
  const exact = await add('{"id":"1","type":"order.placed","payload":{}}');
  const other = await add('{"id":"2","type":"audit.done","payload":{"type":"order.placed"}}');
  const prefixed = await add('{"id":"3","type":"mission.step.done","payload":{}}');
  const legacy = await add('{"type":"audit.done","id":"4"}');
  const escaped = await add('{"id":"5","type":"order.placed\\"x","payload":{}}');
  const quotedId = await add('{"id":"a\\",\\"type\\":\\"order.placed","type":"audit.done"}');
  const proto = await add('{"id":"6","type":"__proto__","payload":{}}');
  const notJson = await add("not json");

  const filter = { exact: ["order.placed", "valueOf"], prefixes: ["mission."] };
  const first = await readWanted(redis, stream, "g", "c", 5, filter);
  t.equal(first.read, 5, "five entries read");
  t.same(
    first.entries.map((e) => e.id),
    [exact, prefixed, legacy, escaped],
    "the exact type, the prefix, and the entries whose type cannot be read so",
  );
  t.same(first.entries[0]!.fields, ["event", '{"id":"1","type":"order.placed","payload":{}}'], "with their fields");
  const second = await readWanted(redis, stream, "g", "c", 5, filter);
  t.equal(second.read, 3, "the rest");
  t.same(
    second.entries.map((e) => e.id),
    [quotedId, notJson],
    "an id with escaped quotes is never read as the type; `__proto__` is just an unwanted type",
  );
  const pending = (await admin.xpending(stream, "g", "-", "+", 100)) as [string][];
  t.same(
    pending.map((p) => p[0]),
    [exact, prefixed, legacy, escaped, quotedId, notJson],
    "what was not returned is ACKed; what was returned is pending until the consumer settles it",
  );
  t.notOk(
    pending.some((p) => p[0] === other || p[0] === proto),
    "unwanted entries left the PEL",
  );
  t.same(await readWanted(redis, stream, "g", "c", 5, filter), { read: 0, entries: [] }, "nothing new");
});

t.test("entryType reads the gateway's own front, and any other shape as JSON.parse would", async (t) => {
  const front = '{"id":"1","type":"order.placed","payload":{"type":"x"}}';
  const cases: [string[] | null, string | null][] = [
    [["event", front], "order.placed"],
    [["event", '{"type":"audit.done","id":"4"}'], "audit.done"],
    [["event", '{"id":"5","type":"order.placed\\"x","payload":{}}'], 'order.placed"x'],
    [["event", '{"id":"a\\",\\"type\\":\\"order.placed","type":"audit.done"}'], "audit.done"],
    [["event", '{"id":"6","type":"__proto__"}'], "__proto__"],
    [["event", '{"id":"7","type":"valueOf\\u0000"}'], "valueOf\u0000"],
    [["event", '{"id":"8","type":9007199254740993}'], null],
    [["event", "not json"], null],
    [["event", "null"], null],
    [["other", front], null],
    [null, null],
  ];
  for (const [fields, type] of cases) t.equal(entryType(fields), type, JSON.stringify(fields)?.slice(0, 60));
});
