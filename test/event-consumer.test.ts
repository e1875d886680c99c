/**
 * EventConsumer as a library (what in-process consumers would use): handlers per event type,
 * PermanentError → dead letter, unknown types ACKed unseen, the bound on entries waiting for a
 * retry, and the bound on entries read ahead of max_in_flight.
 */
import t from "tap";
import postgres from "postgres";
import { buildApp } from "./helpers/app.js";
import { envelope } from "./helpers/http.js";
import { eventually } from "./helpers/delivery.js";
import { EventConsumer } from "../src/consumer/event-consumer.js";
import {
  PermanentError,
  TransientError,
  type ConsumedEvent,
  type EventConsumerOptions,
} from "../src/consumer/types.js";
import { deliveryConnection } from "../src/stream/connections.js";

async function setup(t: { teardown(fn: () => unknown): void }, name: string) {
  const { app, config, env } = await buildApp(t, { BRAIN_ROLE: "api" });
  const sql = postgres(env["DATABASE_URL"]!, { max: 2, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  await sql`insert into subscribers (name, kind, event_types) values (${name}, 'internal', ${["*"]})`;
  await app.redis.xgroup("CREATE", config.stream, name, "0", "MKSTREAM");
  const redis = deliveryConnection(config.redisUrl);
  t.teardown(() => redis.disconnect());
  const add = async (type: string) =>
    (
      await app.publisher.publish([
        { json: JSON.stringify(envelope({ type, id: `e-${Math.random()}` })), eventId: "x", fingerprint: "f" },
      ])
    )[0]!.streamMessageId;
  const consumer = (opts: Partial<EventConsumerOptions>) => {
    const c = new EventConsumer({
      redis,
      db: app.db,
      stream: config.stream,
      subscriber: name,
      consumer: "lib-test",
      handlers: {},
      retryScheduleMs: [100],
      claimIdleMs: 1500,
      log: app.log,
      ...opts,
    });
    t.teardown(() => c.stop(1000));
    c.start();
    return c;
  };
  return { app, config, sql, add, consumer };
}

t.test(
  "handlers per type: success is recorded, PermanentError is dead-lettered, other types are ACKed unseen",
  async (t) => {
    const { app, config, sql, add, consumer } = await setup(t, "library");
    const seen: ConsumedEvent[] = [];
    const ok = await add("order.placed");
    const bad = await add("order.broken");
    const other = await add("order.ignored");
    consumer({
      handlers: {
        "order.placed": async (e) => void seen.push(e),
        "order.broken": async () => {
          throw new PermanentError("cannot handle this order");
        },
      },
    });
    await eventually(
      async () => (await sql`select count(*)::int as n from processed_events`)[0]!.n === 2,
      5000,
      "two dedup rows",
    );
    t.same(
      seen.map((e) => [e.streamMessageId, e.attempt, e.event.type]),
      [[ok, 1, "order.placed"]],
    );
    const rows = await sql`select stream_message_id, outcome from processed_events order by id`;
    t.same(
      rows.map((r) => [r.stream_message_id, r.outcome]),
      [
        [ok, "delivered"],
        [bad, "dead_lettered"],
      ],
    );
    const [letter] = await sql`select reason, last_error from dead_letters`;
    t.match(letter, { reason: "permanent_error", last_error: "cannot handle this order" });
    await eventually(
      async () => Number(((await app.redis.xpending(config.stream, "library")) as [number])[0]) === 0,
      5000,
      "all ACKed",
    );
    t.notOk(
      rows.some((r) => r.stream_message_id === other),
      "no dedup row for a type without a handler",
    );
  },
);

t.test("while too many entries wait for a retry, no new entries are read", async (t) => {
  const { app, config, add, consumer } = await setup(t, "backlog");
  for (let i = 0; i < 5; i++) await add("job.run");
  let calls = 0;
  consumer({
    handlers: {
      "job.run": async () => {
        calls++;
        throw new TransientError("downstream is down");
      },
    },
    retryScheduleMs: [3_600_000],
    maxRetryBacklog: 5,
  });
  await eventually(() => calls === 5, 5000, "five failed calls");
  // A read already blocking when the backlog filled may still return; after BLOCK (2 s) none is issued.
  await new Promise((r) => setTimeout(r, 2500));
  for (let i = 0; i < 10; i++) await add("job.run");
  // Kept as a pause: the consumer issues no read at all, so no marker could pass through it.
  await new Promise((r) => setTimeout(r, 2500));
  t.equal(calls, 5, "the ten new entries were not taken");
  const [group] = (await app.redis.xinfo("GROUPS", config.stream)) as unknown[][];
  t.equal(Number(group![group!.indexOf("lag") + 1]), 10, "they wait unread in the stream");
});

t.test("reading ahead is bounded by max_in_flight and resumes as calls finish", async (t) => {
  const { app, config, consumer } = await setup(t, "readahead");
  const total = 450;
  await app.publisher.publish(
    Array.from({ length: total }, (_, i) => ({
      json: JSON.stringify(envelope({ type: "job.run", id: `ra-${i}` })),
      eventId: `ra-${i}`,
    })),
  );
  let open = 0;
  let maxOpen = 0;
  const handled = new Set<string>();
  let release: () => void = () => {};
  let gate = new Promise<void>((r) => (release = r));
  consumer({
    handlers: {
      "job.run": async (e) => {
        maxOpen = Math.max(maxOpen, ++open);
        await gate;
        open--;
        handled.add(e.streamMessageId);
      },
    },
    maxInFlight: 2,
  });
  // Every call blocks: the consumer reads ahead, then has to wait for room.
  await eventually(() => open === 2, 5000, "two calls in flight");
  // Kept as a pause: a bounded reader waits for room, issuing nothing a marker could follow; let a runaway one read.
  await new Promise((r) => setTimeout(r, 500));
  const pendingNow = async () => Number(((await app.redis.xpending(config.stream, "readahead")) as [number])[0]);
  const pending = await pendingNow();
  t.ok(pending <= 2 + 200, `${pending} entries read while 2 calls hang (at most max_in_flight + 200)`);
  t.ok(pending < total, "the rest waits unread in the stream");
  // Let calls finish: the reader must be woken by the room they make, not stall.
  release();
  gate = Promise.resolve();
  await eventually(() => handled.size === total, 15_000, "every entry handled");
  t.equal(maxOpen, 2, "never more than max_in_flight calls at once");
  await eventually(async () => (await pendingNow()) === 0, 5000, "all ACKed");
});
