/**
 * BrainEventsClient's retries, against a scripted fetch: what is retried (network errors, 429,
 * 502, 503, 504, hung attempts) and what never is (every other status), the bounds on attempts and
 * total time, Retry-After, and that each retry sends the very same body with the same id.
 * test/client.test.ts shows the same against the real gateway.
 */
import t from "tap";
import { BrainApiError, BrainEventsClient, type RetryOptions } from "../src/client/index.js";
import { retryAfterMs, retryDelay, DEFAULT_RETRY } from "../src/client/retry.js";
import { envelope } from "./helpers/http.js";
import type { BrainEvent } from "../src/catalog/index.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const event = () => envelope() as BrainEvent;
const fast: RetryOptions = { baseDelayMs: 1, maxDelayMs: 5 };

type Step = (init: RequestInit) => Response | Promise<Response>;
const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  () =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
const accepted = json(202, { id: "evt-1", stream_message_id: "1-0" });
const failure = (status: number, headers: Record<string, string> = {}) =>
  json(status, { statusCode: status, code: `CODE_${status}`, error: "x", message: `failed ${status}` }, headers);
const dropped: Step = () => {
  throw new TypeError("fetch failed", { cause: new Error("other side closed") });
};
/** Never answers; rejects with the abort reason, as fetch does. */
const hang: Step = (init) =>
  new Promise((_, reject) => init.signal!.addEventListener("abort", () => reject(init.signal!.reason)));

/** A client whose fetch plays `steps` in order (the last one repeats) and records every call. */
function scripted(steps: Step[], retry?: RetryOptions | false, baseUrl = "http://gw.test") {
  const calls: { url: string; init: RequestInit; at: number }[] = [];
  const fetch = async (url: string | URL | Request, init: RequestInit = {}) => {
    calls.push({ url: String(url), init, at: Date.now() });
    return steps[Math.min(calls.length, steps.length) - 1]!(init);
  };
  const client = new BrainEventsClient({ baseUrl, token: "tok", fetch: fetch as typeof globalThis.fetch, retry });
  return { client, calls, bodies: () => calls.map((c) => c.init.body as string) };
}

t.test("a dropped connection, 429, 502, 503 and 504 are retried with the same body", async (t) => {
  const { client, calls, bodies } = scripted(
    [dropped, failure(429), failure(502), failure(503), json(504, "<html>gateway timeout</html>"), accepted],
    { ...fast, attempts: 6 },
  );
  t.same(await client.publish(event()), { id: "evt-1", stream_message_id: "1-0", replayed: false });
  t.equal(calls.length, 6);
  t.equal(new Set(bodies()).size, 1, "every attempt sent the same bytes");
  t.match(JSON.parse(bodies()[0]!).id, UUID_V7, "with the id the client assigned");
  t.equal(calls[0]!.url, "http://gw.test/v1/events");
});

t.test("no other status is retried: 4xx but 429, and 500, reject at once with the error body", async (t) => {
  for (const status of [400, 401, 403, 404, 409, 413, 415, 422, 500]) {
    const { client, calls } = scripted([failure(status), accepted], fast);
    const error = await client.publish(event()).catch((e: unknown) => e);
    t.type(error, BrainApiError, String(status));
    t.match(error, { statusCode: status, code: `CODE_${status}`, message: `failed ${status}`, details: [] });
    t.equal(calls.length, 1, `${status} sent once`);
  }
});

t.test("Retry-After in seconds is waited for, on top of no backoff", async (t) => {
  const { client, calls } = scripted([failure(503, { "retry-after": "1" }), accepted], fast);
  await client.publish(event());
  const gap = calls[1]!.at - calls[0]!.at;
  t.ok(gap >= 1000 && gap < 1100 + 500, `waited ${gap} ms: 1 s plus at most 10 % jitter`);
});

t.test("Retry-After as an HTTP date is waited for", async (t) => {
  const at = new Date(Date.now() + 2000).toUTCString(); // whole seconds: 1 to 2 s from now
  const { client, calls } = scripted([failure(429, { "retry-after": at }), accepted], fast);
  await client.publish(event());
  const gap = calls[1]!.at - calls[0]!.at;
  t.ok(gap >= 990 && gap < 2200 + 500, `waited ${gap} ms until ${at}`);
});

t.test("attempts are bounded: the last error is thrown", async (t) => {
  const { client, calls } = scripted([failure(503)], { ...fast, attempts: 3 });
  await t.rejects(client.publish(event()), { name: "BrainApiError", statusCode: 503, code: "CODE_503" });
  t.equal(calls.length, 3);
  const network = scripted([dropped], { ...fast, attempts: 2 });
  await t.rejects(network.client.publish(event()), { name: "TypeError", message: "fetch failed" });
  t.equal(network.calls.length, 2);
});

t.test("total time is bounded: no wait runs past it, however long Retry-After asks", async (t) => {
  const started = Date.now();
  const { client, calls } = scripted([failure(503, { "retry-after": "5" }), accepted], { totalTimeMs: 500 });
  await t.rejects(client.publish(event()), { name: "BrainApiError", statusCode: 503 });
  t.equal(calls.length, 1, "no retry that would start after the bound");
  t.ok(Date.now() - started < 400, "and no waiting for nothing");
  const backoff = scripted([dropped], { attempts: 100, baseDelayMs: 100, maxDelayMs: 100, totalTimeMs: 400 });
  const begun = Date.now();
  await t.rejects(backoff.client.publish(event()), { message: "fetch failed" });
  t.ok(backoff.calls.length >= 3 && backoff.calls.length <= 8, `${backoff.calls.length} attempts in 400 ms`);
  t.ok(Date.now() - begun < 400 + 200, `${Date.now() - begun} ms`);
});

t.test("a hung attempt is aborted after attemptTimeoutMs and retried", async (t) => {
  const { client, calls } = scripted([hang, accepted], { ...fast, attemptTimeoutMs: 100 });
  const started = Date.now();
  t.same(await client.publish(event()), { id: "evt-1", stream_message_id: "1-0", replayed: false });
  t.equal(calls.length, 2);
  t.match(calls[0]!.init.signal!.reason, { name: "TimeoutError" });
  t.ok(Date.now() - started >= 100, "after the attempt timeout");
  const slow = scripted([hang], { ...fast, attempts: 1, attemptTimeoutMs: 50 });
  await t.rejects(slow.client.publish(event()), { name: "TimeoutError", message: "no answer within 50 ms" });
});

t.test("the caller's abort ends the call at once, during an attempt or a wait, and is not retried", async (t) => {
  const waiting = scripted([failure(503, { "retry-after": "5" }), accepted]);
  const started = Date.now();
  await t.rejects(waiting.client.publish(event(), { signal: AbortSignal.timeout(50) }), { name: "TimeoutError" });
  t.ok(Date.now() - started < 1000, "the 5 s wait was cut short");
  t.equal(waiting.calls.length, 1);
  const inFlight = scripted([hang, accepted]);
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("shutting down")), 20);
  await t.rejects(inFlight.client.publish(event(), { signal: controller.signal }), { message: "shutting down" });
  t.equal(inFlight.calls.length, 1);
  const before = scripted([accepted]);
  await t.rejects(before.client.publishBatch([event()], { signal: AbortSignal.abort() }), { name: "AbortError" });
  t.equal(before.calls.length, 0, "an aborted signal sends nothing");
});

t.test("retry: false sends once", async (t) => {
  const { client, calls } = scripted([dropped, accepted], false);
  await t.rejects(client.publish(event()), { message: "fetch failed" });
  t.equal(calls.length, 1);
});

t.test("ids: assigned when absent, kept when given, the caller's objects untouched", async (t) => {
  const batch = json(202, {
    results: [
      { id: "a", stream_message_id: "1-0" },
      { id: "b", stream_message_id: "1-1", replayed: true },
    ],
  });
  const { client, calls, bodies } = scripted([accepted, batch], fast, "http://gw.test/brain//");
  const mine = event();
  await client.publish({ ...mine, id: "evt-mine" }, { idempotencyKey: "key-1" });
  const results = await client.publishBatch([mine, { ...mine, id: "evt-given" }]);
  t.same(results, [
    { id: "a", stream_message_id: "1-0", replayed: false },
    { id: "b", stream_message_id: "1-1", replayed: true },
  ]);
  t.equal(mine.id, undefined, "the event passed in was not changed");
  t.equal(JSON.parse(bodies()[0]!).id, "evt-mine");
  const sent = JSON.parse(bodies()[1]!).events;
  t.match(sent[0].id, UUID_V7);
  t.equal(sent[1].id, "evt-given");
  t.same(
    calls.map((c) => c.url),
    ["http://gw.test/brain/v1/events", "http://gw.test/brain/v1/events/batch"],
    "a path prefix is kept",
  );
  t.match(calls[0]!.init.headers, {
    authorization: "Bearer tok",
    "content-type": "application/json",
    "idempotency-key": "key-1",
  });
  t.notOk("idempotency-key" in (calls[1]!.init.headers as object), "the batch endpoint takes no key");
});

t.test("a replay is reported; error bodies keep details, foreign ones get HTTP_<status>", async (t) => {
  const replay = json(200, { id: "evt-1", stream_message_id: "1-0" }, { "idempotent-replayed": "true" });
  const details = [{ path: "/meta/producer", message: "is required" }];
  const invalid = json(400, { statusCode: 400, code: "INVALID_ENVELOPE", error: "Bad Request", message: "m", details });
  const html = () => new Response("<h1>Bad gateway</h1>", { status: 418 });
  const { client } = scripted([replay, invalid, html, () => new Response("", { status: 418 })], false);
  t.same(await client.publish(event()), { id: "evt-1", stream_message_id: "1-0", replayed: true });
  await t.rejects(client.publish(event()), { statusCode: 400, code: "INVALID_ENVELOPE", details });
  await t.rejects(client.publish(event()), { statusCode: 418, code: "HTTP_418", message: "<h1>Bad gateway</h1>" });
  await t.rejects(client.publish(event()), { statusCode: 418, code: "HTTP_418", message: "HTTP 418" });
});

t.test("options are checked when the client is made", async (t) => {
  const make = (over: object) => () => new BrainEventsClient({ baseUrl: "http://gw.test", token: "t", ...over });
  t.throws(make({ baseUrl: "ftp://gw.test" }), TypeError);
  t.throws(make({ token: "" }), TypeError);
  t.throws(make({ retry: { attempts: 0 } }), RangeError);
  t.throws(make({ retry: { attempts: 1.5 } }), RangeError);
  t.throws(make({ retry: { baseDelayMs: -1 } }), RangeError);
  t.throws(make({ retry: { totalTimeMs: Number.NaN } }), RangeError);
  t.doesNotThrow(make({ retry: { baseDelayMs: 0 } }));
});

t.test("backoff: doubling, capped, half of it jitter; Retry-After plus at most 10 % (≤ 1 s)", async (t) => {
  const policy = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
  t.same(
    [1, 2, 3, 4, 5, 6].map((n) => retryDelay(policy, n, undefined, () => 1)),
    [100, 200, 400, 800, 1000, 1000],
  );
  t.equal(
    retryDelay(policy, 3, undefined, () => 0),
    200,
    "never less than half",
  );
  t.equal(
    retryDelay(policy, 1, 3000, () => 1),
    3300,
    "the server's wait, honoured beyond maxDelayMs",
  );
  t.equal(
    retryDelay(policy, 1, 60_000, () => 1),
    61_000,
  );
  t.equal(
    retryDelay(policy, 1, 0, () => 1),
    0,
  );
  const now = Date.parse("2026-11-30T12:00:00Z");
  t.equal(retryAfterMs("7", now), 7000);
  t.equal(retryAfterMs(" 0 ", now), 0);
  t.equal(retryAfterMs("Mon, 30 Nov 2026 12:00:03 GMT", now), 3000);
  t.equal(retryAfterMs("Mon, 30 Nov 2026 11:00:00 GMT", now), 0, "a past date means now");
  t.equal(retryAfterMs("soon", now), undefined);
  t.equal(retryAfterMs("-1", now), undefined);
  t.equal(retryAfterMs(null, now), undefined);
});
