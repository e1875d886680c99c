/** The delivery log's filters and paging (GET /v1/subscribers/{name}/deliveries?outcome=&event_type=&before=). */
import t from "tap";
import { ATTEMPT_SCAN_LIMIT } from "../src/db/delivery-attempts.js";
import { deliveryAttempts } from "../src/db/schema.js";
import { buildApp } from "./helpers/app.js";
import { createSubscriber } from "./helpers/delivery.js";
import { ADMIN_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";

interface Page {
  deliveries: { stream_message_id: string; outcome: string; event_type: string | null }[];
  next: string | null;
}

const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
const list = async (query: string): Promise<Page> => {
  const res = await app.inject({
    method: "GET",
    url: `/v1/subscribers/log/deliveries?${query}`,
    headers: auth(ADMIN_TOKEN),
  });
  if (res.statusCode !== 200) throw new Error(`${query}: ${res.statusCode} ${res.body}`);
  return res.json();
};
/** Every page from the first, following `next`: the ids in the order they came, and the page count. */
const all = async (query: string) => {
  const ids: string[] = [];
  let pages = 0;
  let before: string | null = null;
  do {
    const page = await list(`${query}${before === null ? "" : `&before=${before}`}`);
    ids.push(...page.deliveries.map((d) => d.stream_message_id));
    before = page.next;
    pages++;
  } while (before !== null && pages < 100);
  return { ids, pages };
};

await createSubscriber(app, { name: "log", url: "https://8.8.8.8/hook" });
await createSubscriber(app, { name: "noise", url: "https://8.8.8.8/hook" });
const outcomes = ["delivered", "retry", "dead_lettered"] as const;
const t0 = Date.UTC(2026, 10, 26, 12);
// 30 attempts, two per millisecond (the id breaks the tie), interleaved with another subscriber's.
const rows = Array.from({ length: 30 }, (_, i) => ({
  subscriberName: "log",
  streamMessageId: `${t0 + i}-0`,
  eventType: i % 2 === 0 ? "order.paid" : "order.created",
  attempt: 1,
  durationMs: 1,
  outcome: outcomes[i % 3]!,
  at: new Date(t0 + Math.floor(i / 2)),
}));
for (const r of rows) {
  await app.db.insert(deliveryAttempts).values([r, { ...r, subscriberName: "noise" }]);
}
const newestFirst = (keep: (r: (typeof rows)[number]) => boolean) =>
  rows
    .filter(keep)
    .reverse()
    .map((r) => r.streamMessageId);

t.test("pages follow one another newest first, each attempt once, next null on the last", async (t) => {
  const got = await all("limit=7");
  t.same(
    got.ids,
    newestFirst(() => true),
  );
  t.equal(got.pages, 5);
  const first = await list("limit=7");
  t.equal(first.deliveries.length, 7);
  t.type(first.next, "string");
});

t.test("outcome and event_type keep only matching attempts, alone or together, across pages", async (t) => {
  for (const outcome of outcomes) {
    t.same(
      (await all(`limit=3&outcome=${outcome}`)).ids,
      newestFirst((r) => r.outcome === outcome),
      outcome,
    );
  }
  t.same(
    (await all("limit=4&event_type=order.paid")).ids,
    newestFirst((r) => r.eventType === "order.paid"),
  );
  const both = await list("limit=500&event_type=order.created&outcome=retry");
  t.same(
    both.deliveries.map((d) => d.stream_message_id),
    newestFirst((r) => r.eventType === "order.created" && r.outcome === "retry"),
  );
  t.ok(
    both.deliveries.every((d) => d.outcome === "retry" && d.event_type === "order.created"),
    "each row carries its event_type",
  );
  t.equal(both.next, null);
  t.same((await list("event_type=never.seen")).deliveries, []);
});

t.test("a filter looks at a bounded number of attempts per page and says where to go on", async (t) => {
  const sql = app.db.$client;
  // One dead letter, then more retries after it than one page looks at.
  await sql`insert into delivery_attempts (subscriber_name, stream_message_id, attempt, duration_ms, outcome, at)
    values ('deep', '1-0', 1, 1, 'dead_lettered', now() - interval '1 hour')`;
  await sql`insert into delivery_attempts (subscriber_name, stream_message_id, attempt, duration_ms, outcome, at)
    select 'deep', (i + 1) || '-0', 1, 1, 'retry', now() - interval '1 hour' + i * interval '1 ms'
    from generate_series(1, ${ATTEMPT_SCAN_LIMIT + 50}) as i`;
  await createSubscriber(app, { name: "deep", url: "https://8.8.8.8/hook" });
  const get = async (q: string) =>
    (
      await app.inject({ method: "GET", url: `/v1/subscribers/deep/deliveries?${q}`, headers: auth(ADMIN_TOKEN) })
    ).json() as Page;
  const first = await get("outcome=dead_lettered");
  t.same(first.deliveries, [], "nothing within the first attempts looked at");
  t.type(first.next, "string", "but older attempts remain");
  const second = await get(`outcome=dead_lettered&before=${first.next}`);
  t.same(
    second.deliveries.map((d) => d.stream_message_id),
    ["1-0"],
  );
  t.equal(second.next, null);
});

t.test("a malformed filter or cursor is 400 and an unknown subscriber 404", async (t) => {
  for (const q of [
    "outcome=failed",
    "outcome=__proto__",
    "event_type=%00",
    "event_type=1abc",
    `event_type=${"a".repeat(129)}`,
    "before=0",
    "before=-1",
    "before=abc",
    "before=9007199254740993",
    `before=${"1".repeat(16)}`,
  ]) {
    const res = await app.inject({
      method: "GET",
      url: `/v1/subscribers/log/deliveries?${q}`,
      headers: auth(ADMIN_TOKEN),
    });
    t.equal(res.statusCode, 400, q.slice(0, 40));
    t.equal(res.json().code, "INVALID_REQUEST");
  }
  const res = await app.inject({
    method: "GET",
    url: "/v1/subscribers/nobody/deliveries?outcome=retry",
    headers: auth(ADMIN_TOKEN),
  });
  t.equal(res.statusCode, 404);
  t.same((await list(`before=999999999`)).deliveries, [], "a cursor whose attempt is gone ends the listing");
});
