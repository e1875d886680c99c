import t from "tap";
import { recordTrimmed } from "../src/db/dead-letters.js";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

interface Page {
  dead_letters: { stream_message_id: string; event: { payload: { i: number } } | null }[];
  next: string | null;
}

t.test("dead letters are listed in pages bounded in rows and bytes, continued by a cursor", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_WEBHOOK_ALLOW_PRIVATE: "true" });
  const created = await app.inject({
    method: "POST",
    url: "/v1/subscribers",
    headers: auth(ADMIN_TOKEN),
    payload: { name: "pages", url: "http://127.0.0.1:9/hook", event_types: ["*"] },
  });
  t.equal(created.statusCode, 201, created.body);
  // 14 dead letters of 200 KiB each, recorded in 7 transactions (two per failure time), oldest first.
  const ids: string[] = [];
  for (let i = 0; i < 14; i += 2) {
    const entries = [i, i + 1].map((n) => ({
      id: `${1_000 + n}-0`,
      eventId: `e-${n}`,
      json: JSON.stringify({ ...envelope({ payload: { i: n, blob: "x".repeat(200 * 1024) } }), id: `e-${n}` }),
    }));
    await recordTrimmed(app.db, "pages", entries, "cut by the cap");
    ids.push(...entries.map((e) => e.id));
  }
  const newestFirst = [...ids].reverse();
  const list = (query: string) =>
    app.inject({ method: "GET", url: `/v1/subscribers/pages/dead-letters${query}`, headers: auth(ADMIN_TOKEN) });

  t.test("about 1 MiB per page, every dead letter once, newest first, next null at the end", async (t) => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await list(`?limit=500${cursor === null ? "" : `&cursor=${cursor}`}`);
      t.equal(res.statusCode, 200);
      const page = res.json() as Page;
      t.ok(res.body.length < 1.1 * 1024 * 1024, `page ${pages}: ${res.body.length} bytes`);
      t.ok(page.dead_letters.length >= 1 && page.dead_letters.length <= 5, `${page.dead_letters.length} rows`);
      seen.push(...page.dead_letters.map((d) => d.stream_message_id));
      cursor = page.next;
      pages++;
    } while (cursor !== null && pages < 20);
    t.same(seen, newestFirst);
    t.equal(pages, 3);
  });

  t.test("limit still bounds rows; the cursor of a full page continues it", async (t) => {
    const first = (await list("?limit=3")).json() as Page;
    t.same(
      first.dead_letters.map((d) => d.stream_message_id),
      newestFirst.slice(0, 3),
    );
    t.type(first.next, "string");
    const second = (await list(`?limit=3&cursor=${first.next}`)).json() as Page;
    t.same(
      second.dead_letters.map((d) => d.stream_message_id),
      newestFirst.slice(3, 6),
    );
    t.same(second.dead_letters[0]!.event?.payload.i, 10);
    const exact = (await list(`?limit=14`)).json() as Page;
    t.ok(exact.next !== null, "cut by bytes: more follow");
  });

  t.test("a malformed cursor is 400", async (t) => {
    for (const cursor of ["abc", "0", "-1", "1.5", "1".repeat(16)]) {
      const res = await list(`?cursor=${cursor}`);
      t.equal(res.statusCode, 400, cursor);
      t.equal(res.json().code, "INVALID_REQUEST");
    }
  });

  t.test("redeliver with a stream id beyond 2^64 − 1 is 400", async (t) => {
    const res = await app.inject({
      method: "POST",
      url: "/v1/subscribers/pages/dead-letters/18446744073709551616-0/redeliver",
      headers: auth(ADMIN_TOKEN),
    });
    t.equal(res.statusCode, 400);
    t.equal(res.json().code, "INVALID_REQUEST");
  });
});
