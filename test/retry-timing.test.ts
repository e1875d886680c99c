import t from "tap";
import { parseRetryAfter, retryDelayMs } from "../src/consumer/retry-timing.js";
import { classifyStatus } from "../src/delivery/webhook-client.js";

const schedule = [5_000, 300_000, 1_800_000];

t.test("the delay after attempt n is the n-th scheduled delay, jittered ±20 %", async (t) => {
  t.equal(
    retryDelayMs(schedule, 1, null, () => 0.5),
    5_000,
  );
  t.equal(
    retryDelayMs(schedule, 1, null, () => 0),
    4_000,
  );
  t.equal(
    retryDelayMs(schedule, 1, null, () => 1),
    6_000,
  );
  t.equal(
    retryDelayMs(schedule, 2, null, () => 0.5),
    300_000,
  );
});

t.test("when attempts outnumber the schedule, its last delay repeats", async (t) => {
  t.equal(
    retryDelayMs(schedule, 3, null, () => 0.5),
    1_800_000,
  );
  t.equal(
    retryDelayMs(schedule, 9, null, () => 0.5),
    1_800_000,
  );
});

t.test("Retry-After replaces the schedule, capped at its longest delay", async (t) => {
  t.equal(retryDelayMs(schedule, 1, 60_000), 60_000);
  t.equal(retryDelayMs(schedule, 1, 86_400_000), 1_800_000);
  t.equal(retryDelayMs(schedule, 1, -5), 0);
});

t.test("Retry-After is read as seconds or as an HTTP date", async (t) => {
  const now = Date.parse("2026-11-26T18:00:00Z");
  t.equal(parseRetryAfter("120", now), 120_000);
  t.equal(parseRetryAfter("Thu, 26 Nov 2026 18:00:30 GMT", now), 30_000);
  t.equal(parseRetryAfter("Thu, 26 Nov 2026 17:00:00 GMT", now), 0, "a date in the past means now");
  t.equal(parseRetryAfter("soon", now), null);
  t.equal(parseRetryAfter(undefined, now), null);
});

t.test("answers are classified by the docs/CONTRACT.md §4 table", async (t) => {
  t.equal(classifyStatus(204, undefined, 1).kind, "success");
  for (const s of [408, 425, 429, 500, 503, 599]) t.equal(classifyStatus(s, undefined, 1).kind, "transient", String(s));
  for (const s of [301, 302, 400, 401, 404, 422])
    t.match(classifyStatus(s, undefined, 1), { kind: "permanent", reason: "permanent_status" }, String(s));
  t.match(classifyStatus(410, undefined, 1), { kind: "permanent", reason: "gone" });
  t.match(classifyStatus(429, "7", 1), { retryAfterMs: 7000 });
  t.match(classifyStatus(503, "7", 1), { retryAfterMs: 7000 });
  t.match(classifyStatus(500, "7", 1), { retryAfterMs: null }, "Retry-After counts on 429 and 503 only");
});
