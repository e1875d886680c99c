/**
 * The events page's API: GET /v1/events newest first (merged across partitions), filtered by type
 * or envelope id with a bounded scan, and GET /v1/events/{stream_message_id} with the subscribers
 * that delivered the entry.
 */
import t from "tap";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { buildApp } from "./helpers/app.js";
import { createSubscriber, deliverySetup, eventually, publish } from "./helpers/delivery.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN, REDIS_URL } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";
import { compareIds } from "../src/stream/ids.js";

type Page = { events: { stream_message_id: string; event: Record<string, unknown> }[]; next: string | null };

const get = (app: FastifyInstance, url: string) => app.inject({ method: "GET", url, headers: auth(ADMIN_TOKEN) });

/** Every page of a query, following `next` until it is null or a page comes back empty. */
async function allPages(app: FastifyInstance, query: string, cursor: "before" | "after"): Promise<Page[]> {
  const pages: Page[] = [];
  let next: string | null = null;
  for (let i = 0; i < 100; i++) {
    const res = await get(app, `/v1/events?${query}${next ? `&${cursor}=${next}` : ""}`);
    if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`);
    const page = res.json() as Page;
    pages.push(page);
    if (page.next === null || (page.events.length === 0 && cursor === "after")) return pages;
    next = page.next;
  }
  throw new Error("too many pages");
}

const ids = (pages: Page[]) => pages.flatMap((p) => p.events.map((e) => e.stream_message_id));

t.test("newest first on one partition: pages go back in time without gaps, and end with next null", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  t.same((await get(app, "/v1/events?order=newest")).json(), { events: [], next: null }, "an empty stream");
  const published: string[] = [];
  for (let i = 0; i < 7; i++) published.push(await publish(app, { payload: { i } }));
  const pages = await allPages(app, "order=newest&limit=3", "before");
  t.same(ids(pages), [...published].reverse(), "every entry once, newest first");
  t.same(
    pages.map((p) => p.events.length),
    [3, 3, 1],
  );
  t.equal(pages.at(-1)!.next, null, "the page that reached the oldest entry says so");
  t.same(pages[0]!.events[0]!.event.payload, { i: 6 });
});

t.test("newest first with 4 partitions is one timeline, merged by (ms, seq, partition)", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_STREAM_PARTITIONS: "4" });
  const published: string[] = [];
  for (let i = 0; i < 24; i++) published.push(await publish(app, { ordering_key: `k${i}`, payload: { i } }));
  t.ok(new Set(published.map((id) => id.split(":")[0])).size > 1, "the events spread over partitions");
  const key = (id: string) => {
    const [p, raw] = id.split(":") as [string, string];
    return { p: Number(p), raw };
  };
  const expected = [...published].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return compareIds(y.raw, x.raw) || y.p - x.p;
  });
  const pages = await allPages(app, "order=newest&limit=5", "before");
  t.same(ids(pages), expected, "every entry once, in (ms, seq, partition) order, newest first");

  const oldest = await allPages(app, "limit=5", "after");
  t.same(new Set(ids(oldest)), new Set(published), "oldest first still pages through every partition");
  t.equal(ids(oldest).length, published.length);
});

t.test("type and event_id filters keep exact matches and page with next", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  const wanted: string[] = [];
  for (let i = 0; i < 9; i++) {
    const type = i % 3 === 0 ? "mission.done" : "mission.created";
    const id = await publish(app, { type, id: `ev-${i}`, payload: { i } });
    if (type === "mission.done") wanted.push(id);
  }
  const byType = await allPages(app, "order=newest&type=mission.done&limit=2", "before");
  t.same(ids(byType), [...wanted].reverse());
  t.ok(
    byType.every((p) => p.events.every((e) => e.event.type === "mission.done")),
    "only the type asked for",
  );
  t.same(ids(await allPages(app, "type=mission.done&limit=2", "after")), wanted, "oldest first too");
  t.same(ids(await allPages(app, "type=mission.don&limit=2", "after")), [], "exact, not a prefix");

  const one = (await get(app, "/v1/events?order=newest&event_id=ev-4")).json() as Page;
  t.equal(one.events.length, 1);
  t.equal(one.events[0]!.event.id, "ev-4");
  t.same((await get(app, "/v1/events?event_id=ev-")).json().events, [], "an id prefix matches nothing");
});

t.test("a filter scans at most 10,000 entries: the page ends early, next continues", async (t) => {
  const { app, config } = await buildApp(t, { BRAIN_ROLE: "api" });
  const first = await publish(app, { type: "rare.kind", id: "rare-1" });
  const raw = new Redis(REDIS_URL);
  t.teardown(() => raw.quit());
  const filler = JSON.stringify({ ...envelope(), id: "x", timestamp: new Date().toISOString() });
  const pipeline = raw.pipeline();
  // eslint-disable-next-line no-restricted-properties -- fills the stream fast; only the scan bound is under test
  for (let i = 0; i < 10_050; i++) pipeline.xadd(config.stream, "*", "event", filler);
  await pipeline.exec();
  const last = await publish(app, { type: "rare.kind", id: "rare-2" });

  const p1 = (await get(app, "/v1/events?order=newest&type=rare.kind&limit=10")).json() as Page;
  t.same(ids([p1]), [last], "the newest match");
  t.not(p1.next, null, "the scan stopped at its bound, not at the stream's start");
  const p2 = (await get(app, `/v1/events?order=newest&type=rare.kind&limit=10&before=${p1.next}`)).json() as Page;
  t.same(ids([p2]), [first], "the next page continues the scan and finds the older match");
  t.equal(p2.next, null);

  const empty = (await get(app, "/v1/events?type=nothing.here&limit=10")).json() as Page;
  t.same(empty.events, [], "no match in the first 10,000 entries: an empty page");
  t.not(empty.next, null, "that still says where to continue");
  const again = (await get(app, `/v1/events?type=nothing.here&limit=10&after=${empty.next}`)).json() as Page;
  t.same(again.events, []);
});

t.test("hostile or contradictory browse parameters are 400 in the error shape", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  for (const query of [
    "order=oldest&before=1-0",
    "order=newest&after=1-0",
    "order=sideways",
    "type=__proto__",
    "type=a%00b",
    `type=${"a".repeat(129)}`,
    "event_id=a%00b",
    `event_id=${"x".repeat(65)}`,
    "before=99999999999999999999-0&order=newest",
    "order=newest&before=2:1-0",
  ]) {
    const res = await get(app, `/v1/events?${query}`);
    t.equal(res.statusCode, 400, query);
    t.equal(res.json().code, "INVALID_REQUEST", query);
  }
  const huge = await get(app, `/v1/events?type=${"a".repeat(1024 * 1024)}`);
  t.ok([400, 414, 431].includes(huge.statusCode), `a 1 MiB value is refused (${huge.statusCode})`);
});

t.test("GET /v1/events/{id} shows the entry and which subscribers delivered it", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  await createSubscriber(app, { name: "billing", url: receiver.url, event_types: ["mission.created"] });
  await createSubscriber(app, { name: "audit", url: receiver.url });
  await createSubscriber(app, { name: "idle", url: receiver.url, event_types: ["other.type"] });
  const id = await publish(app, { id: "shown-1", payload: { html: "<script>x</script>" } });
  await receiver.waitFor(2);
  const detail = await eventually(async () => {
    const body = (await get(app, `/v1/events/${id}`)).json();
    return body.deliveries?.length === 2 ? body : null;
  });
  t.equal(detail.stream_message_id, id);
  t.match(detail.event, { id: "shown-1", type: "mission.created", payload: { html: "<script>x</script>" } });
  t.same(
    detail.deliveries.map((d: { subscriber: string; outcome: string }) => [d.subscriber, d.outcome]),
    [
      ["audit", "delivered"],
      ["billing", "delivered"],
    ],
    "one row per subscriber that delivered it, by name; the one that skipped its type has none",
  );
  t.ok(Date.parse(detail.deliveries[0].processed_at) > Date.now() - 60_000);

  const missing = await get(app, "/v1/events/1-0");
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().code, "NOT_FOUND");
  for (const bad of ["nope", "1:1-0", "18446744073709551616-0"]) {
    const res = await get(app, `/v1/events/${bad}`);
    t.equal(res.statusCode, 400, bad);
  }
  const forbidden = await app.inject({ method: "GET", url: `/v1/events/${id}`, headers: auth(PUBLISH_TOKEN) });
  t.equal(forbidden.statusCode, 403, "admin scope only");
});
