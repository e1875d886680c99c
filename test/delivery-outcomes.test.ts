/**
 * docs/CONTRACT.md §4, row by row: how each kind of webhook answer is classified and what the gateway then
 * does (dedup row, XACK, retry, dead letter, disabling the subscriber).
 */
import t from "tap";
import { freePort } from "./helpers/processes.js";
import { createSubscriber, deliverySetup, eventually, pendingCount, publish } from "./helpers/delivery.js";
import type { Answer, Received } from "./helpers/receiver.js";

const attemptOf = (r: Received) => Number(r.headers["x-brain-attempt"]);

/** What each receiver path answers, by attempt. */
function answer(req: Received): Answer {
  const [, , kind] = req.path.split("/");
  const first = attemptOf(req) === 1;
  switch (kind) {
    case "timeout":
      return first ? { delayMs: 1500 } : { status: 200 };
    case "gone":
      return { status: 410 };
    case "redirect":
      return { status: 302, headers: { location: "/hook/redirected" } };
    case "always503":
      return { status: 503 };
    default: {
      const status = Number(kind);
      // Transient statuses fail once, then succeed; permanent ones fail every time.
      return status >= 400 && status < 600 && (first || ![408, 425, 429, 500, 502, 503, 504].includes(status))
        ? { status }
        : { status: 200 };
    }
  }
}

t.test("every docs/CONTRACT.md §4 answer class leads to its documented outcome", async (t) => {
  const { app, receiver, sql } = await deliverySetup(t);
  receiver.answer = answer;
  const closedPort = await freePort();
  const transient = ["408", "425", "429", "500", "502", "503", "504"];
  const cases: Record<string, Record<string, unknown>> = {
    ok: { url: `${receiver.url}/200` },
    ...Object.fromEntries(transient.map((s) => [`t${s}`, { url: `${receiver.url}/${s}` }])),
    timeout: { url: `${receiver.url}/timeout`, timeout_ms: 300 },
    refused: { url: `http://127.0.0.1:${closedPort}/hook`, max_attempts: 2 },
    dns: { url: "http://no-such-host.invalid/hook", max_attempts: 2 },
    gone: { url: `${receiver.url}/gone` },
    p400: { url: `${receiver.url}/400` },
    p404: { url: `${receiver.url}/404` },
    redirect: { url: `${receiver.url}/redirect` },
    exhausted: { url: `${receiver.url}/always503`, max_attempts: 3 },
  };
  for (const [name, body] of Object.entries(cases)) await createSubscriber(app, { name, ...body });
  const id = await publish(app);

  await eventually(
    async () => {
      const [row] = await sql`select count(*)::int as n from processed_events where stream_message_id = ${id}`;
      return row!.n === Object.keys(cases).length;
    },
    20_000,
    "every subscriber to settle the event",
  );
  // The delivery log is written off the delivery path, in batches: wait for its last rows too.
  const attempts =
    1 +
    2 * transient.length +
    2 /* timeout */ +
    2 /* refused */ +
    2 /* dns */ +
    4 /* 410, 400, 404, 302 */ +
    3; /* exhausted */
  await eventually(
    async () => (await sql`select count(*)::int as n from delivery_attempts`)[0]!.n === attempts,
    15_000,
    "the delivery log",
  );

  const outcomes = Object.fromEntries(
    (await sql`select subscriber_name, outcome from processed_events`).map((r) => [r.subscriber_name, r.outcome]),
  );
  const letters = Object.fromEntries((await sql`select * from dead_letters`).map((r) => [r.subscriber_name, r]));
  const requests = (path: string) => receiver.requests.filter((r) => r.path === `/hook/${path}`);

  t.test("2xx: delivered once, dedup row, ACKed", async (t) => {
    t.equal(outcomes["ok"], "delivered");
    t.equal(requests("200").length, 1);
    t.equal(await pendingCount(app, "ok"), 0);
  });

  for (const s of transient) {
    t.test(`${s}: transient, retried, then delivered with x-brain-attempt 2`, async (t) => {
      t.equal(outcomes[`t${s}`], "delivered");
      t.same(requests(s).map(attemptOf), [1, 2]);
      const log = await sql`
        select attempt, status_code, outcome from delivery_attempts
        where subscriber_name = ${`t${s}`} order by attempt`;
      t.same(
        log.map((r) => [r.attempt, r.status_code, r.outcome]),
        [
          [1, Number(s), "retry"],
          [2, 200, "delivered"],
        ],
      );
    });
  }

  t.test("a timeout is transient and retried", async (t) => {
    t.equal(outcomes["timeout"], "delivered");
    t.same(requests("timeout").map(attemptOf), [1, 2]);
    const [first] =
      await sql`select error, outcome from delivery_attempts where subscriber_name = 'timeout' and attempt = 1`;
    t.match(first!.error, /timed out/);
    t.equal(first!.outcome, "retry");
  });

  for (const [name, pattern] of [
    ["refused", /ECONNREFUSED/],
    ["dns", /ENOTFOUND|EAI_AGAIN/],
  ] as const) {
    t.test(
      `${name === "dns" ? "a DNS failure" : "connection refused"} is transient: ` +
        "retried up to max_attempts, then dead-lettered",
      async (t) => {
        const log = await sql`
          select attempt, error, outcome from delivery_attempts
          where subscriber_name = ${name} order by attempt`;
        t.same(
          log.map((r) => [r.attempt, r.outcome]),
          [
            [1, "retry"],
            [2, "dead_lettered"],
          ],
        );
        t.match(log[0]!.error, pattern);
        t.equal(letters[name]?.reason, "max_attempts_exceeded");
        t.equal(outcomes[name], "dead_lettered");
      },
    );
  }

  t.test("410: dead letter `gone`, the subscriber is disabled", async (t) => {
    t.equal(requests("gone").length, 1);
    t.equal(letters["gone"]?.reason, "gone");
    t.equal(letters["gone"]?.last_status_code, 410);
    const [row] = await sql`select enabled from subscribers where name = 'gone'`;
    t.equal(row!.enabled, false);
    t.equal(await pendingCount(app, "gone"), 0);
  });

  for (const s of ["400", "404"]) {
    t.test(`${s}: permanent, one request, dead letter with the event, dedup row, ACKed`, async (t) => {
      t.equal(requests(s).length, 1);
      t.equal(letters[`p${s}`]?.reason, "permanent_status");
      t.equal(letters[`p${s}`]?.last_status_code, Number(s));
      t.equal(JSON.parse(letters[`p${s}`]!.event).type, "mission.created");
      t.equal(outcomes[`p${s}`], "dead_lettered");
      t.equal(await pendingCount(app, `p${s}`), 0);
    });
  }

  t.test("3xx: permanent, the redirect is not followed", async (t) => {
    t.equal(requests("redirect").length, 1);
    t.equal(requests("redirected").length, 0);
    t.equal(letters["redirect"]?.reason, "permanent_status");
    t.equal(letters["redirect"]?.last_status_code, 302);
  });

  t.test(
    "transient on attempt max_attempts: dead letter max_attempts_exceeded after exactly max_attempts requests",
    async (t) => {
      t.same(requests("always503").map(attemptOf), [1, 2, 3]);
      t.equal(letters["exhausted"]?.reason, "max_attempts_exceeded");
      t.equal(letters["exhausted"]?.attempts, 3);
      t.equal(letters["exhausted"]?.last_status_code, 503);
      t.equal(await pendingCount(app, "exhausted"), 0);
    },
  );
});
