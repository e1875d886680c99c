import t from "tap";
import { Redis } from "ioredis";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN, REDIS_URL } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

t.test("GET /v1/events browses the stream", async (t) => {
  const { app, config } = await buildApp(t);
  const browse = (query = "") => app.inject({ method: "GET", url: `/v1/events${query}`, headers: auth(ADMIN_TOKEN) });

  t.test("an empty stream is an empty page with next null", async (t) => {
    const res = await browse();
    t.equal(res.statusCode, 200);
    t.same(res.json(), { events: [], next: null });
  });

  const accepted: { id: string; stream_message_id: string }[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({
      method: "POST",
      url: "/v1/events",
      headers: auth(PUBLISH_TOKEN),
      payload: envelope({ payload: { i } }),
    });
    accepted.push(res.json());
  }

  t.test("entries come oldest first with their stream ids and stored envelopes", async (t) => {
    const page = (await browse()).json();
    t.same(
      page.events.map((e: { stream_message_id: string }) => e.stream_message_id),
      accepted.map((a) => a.stream_message_id),
    );
    t.same(
      page.events.map((e: { event: { payload: { i: number } } }) => e.event.payload.i),
      [0, 1, 2, 3, 4],
    );
    t.equal(page.events[0].event.id, accepted[0]!.id);
    t.equal(page.next, accepted[4]!.stream_message_id);
  });

  t.test("after and limit page through the stream without gaps or repeats", async (t) => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const res = await browse(`?limit=2${after ? `&after=${after}` : ""}`);
      t.equal(res.statusCode, 200);
      const page = res.json() as { events: { stream_message_id: string }[]; next: string | null };
      t.ok(page.events.length <= 2);
      seen.push(...page.events.map((e) => e.stream_message_id));
      if (page.events.length === 0) {
        t.equal(page.next, null, "the page after the last is empty with next null");
        break;
      }
      after = page.next;
    }
    t.same(
      seen,
      accepted.map((a) => a.stream_message_id),
    );
  });

  t.test("bad query parameters are 400", async (t) => {
    for (const query of ["?limit=0", "?limit=1001", "?limit=x", "?after=yesterday", "?after=1-2-3"]) {
      const res = await browse(query);
      t.equal(res.statusCode, 400, query);
      t.equal(res.json().code, "INVALID_REQUEST");
    }
  });

  t.test("a stream id beyond 2^64 − 1 is 400, not a Redis outage", async (t) => {
    for (const after of ["18446744073709551616-0", "0-18446744073709551616", "99999999999999999999-1"]) {
      const res = await browse(`?after=${after}`);
      t.equal(res.statusCode, 400, after);
      t.equal(res.json().code, "INVALID_REQUEST");
      t.equal(res.headers["retry-after"], undefined);
    }
    t.equal((await browse("?after=00000000000000000000-0")).statusCode, 200, "leading zeros are fine");
    // The largest id is valid, but Redis cannot start a range after it: its refusal is about the request.
    const last = await browse("?after=18446744073709551615-18446744073709551615");
    t.equal(last.statusCode, 400);
    t.match(last.json(), { code: "INVALID_REQUEST", message: /Redis refused a value of the request/ });
    t.equal(last.headers["retry-after"], undefined);
  });

  t.test("an entry written without meta by an older producer is shown with the default meta", async (t) => {
    const raw = new Redis(REDIS_URL);
    t.teardown(() => raw.quit());
    const legacy = {
      id: "old-1",
      type: "mission.created",
      source: "legacy_queue",
      payload: { m: 1 },
      timestamp: "2025-01-01T00:00:00.000Z",
    };
    // eslint-disable-next-line no-restricted-properties -- plays an older producer writing the stream directly
    const id = await raw.xadd(config.stream, "*", "event", JSON.stringify(legacy));
    const page = (await browse(`?after=${accepted[4]!.stream_message_id}`)).json();
    t.same(page.events, [
      {
        stream_message_id: id,
        event: { ...legacy, meta: { schema_version: 1, producer: "legacy_queue", source_module: "unknown" } },
      },
    ]);
  });
});

t.test("pages are bounded in bytes too: about 1 MiB of events, and next continues", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  const big = (i: number) => envelope({ payload: { i, blob: "x".repeat(200 * 1024) } });
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    const res = await app.inject({ method: "POST", url: "/v1/events", headers: auth(PUBLISH_TOKEN), payload: big(i) });
    ids.push(res.json().stream_message_id);
  }
  const seen: string[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 12; pages++) {
    const res = await app.inject({
      method: "GET",
      url: `/v1/events?limit=1000${after ? `&after=${after}` : ""}`,
      headers: auth(ADMIN_TOKEN),
    });
    const page = res.json() as { events: { stream_message_id: string }[]; next: string | null };
    if (page.events.length === 0) break;
    t.ok(Buffer.byteLength(res.body) < 1.1 * 1024 * 1024, `page ${pages}: ${res.body.length} bytes`);
    t.ok(page.events.length <= 5, `page ${pages}: ${page.events.length} events of 200 KiB`);
    seen.push(...page.events.map((e) => e.stream_message_id));
    after = page.next;
  }
  t.same(seen, ids, "every event once, in order");
});
