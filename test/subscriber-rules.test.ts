/**
 * The subscriber rules at create and PATCH (docs/CONTRACT.md §3, §4): every refusal is a 400 in the
 * shared shape naming the offending field, and changes nothing.
 */
import { hostname } from "node:os";
import t, { type Test } from "tap";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";

const QUIET = { BRAIN_ROLE: "api", BRAIN_MAX_EVENT_LOOP_DELAY_MS: "0" };
const { app, config } = await buildApp(t, QUIET);
const admin = auth(ADMIN_TOKEN);
const HOOK = "https://8.8.8.8/hook";

const create = (payload: Record<string, unknown>, a = app) =>
  a.inject({ method: "POST", url: "/v1/subscribers", headers: admin, payload });
const get = (name: string) => app.inject({ method: "GET", url: `/v1/subscribers/${name}`, headers: admin });
const patch = (name: string, payload: Record<string, unknown>) =>
  app.inject({ method: "PATCH", url: `/v1/subscribers/${name}`, headers: admin, payload });
/** Consumer group names; none while the stream does not exist yet. */
const groupNames = async (): Promise<Set<string>> => {
  const infos = (await app.redis.xinfo("GROUPS", config.stream).catch((err: Error) => {
    if (/no such key/.test(err.message)) return [];
    throw err;
  })) as unknown[][];
  return new Set(infos.map((g) => String(g[g.indexOf("name") + 1])));
};

t.test("each subscriber rule answers 400 with the path of the offending field, and nothing is created", async (t) => {
  const base = { name: "rules", url: HOOK, event_types: ["mission.created"] };
  const cases: [string, Record<string, unknown>, string, string][] = [
    ["name with upper case", { name: "Billing" }, "/name", "INVALID_REQUEST"],
    ["name starting with a dash", { name: "-x" }, "/name", "INVALID_REQUEST"],
    ["name of 64 characters", { name: "a".repeat(64) }, "/name", "INVALID_REQUEST"],
    ["missing url", { url: undefined }, "/url", "INVALID_REQUEST"],
    ["non-http url", { url: "ftp://example.com/" }, "/url", "INVALID_REQUEST"],
    ["empty event_types", { event_types: [] }, "/event_types", "INVALID_REQUEST"],
    ["duplicate event_types", { event_types: ["a", "a"] }, "/event_types", "INVALID_REQUEST"],
    ["malformed event type", { event_types: ["1abc"] }, "/event_types/0", "INVALID_REQUEST"],
    ["wildcard inside a type", { event_types: ["*.created"] }, "/event_types/0", "INVALID_REQUEST"],
    ["prefix pattern without a separator", { event_types: ["mission*"] }, "/event_types/0", "INVALID_REQUEST"],
    ["unknown start_from", { start_from: "yesterday" }, "/start_from", "INVALID_REQUEST"],
    ["timeout_ms at the claim idle time", { timeout_ms: config.claimIdleMs }, "/timeout_ms", "INVALID_REQUEST"],
    ["max_attempts 0", { max_attempts: 0 }, "/max_attempts", "INVALID_REQUEST"],
    ["max_attempts 101", { max_attempts: 101 }, "/max_attempts", "INVALID_REQUEST"],
    ["max_in_flight 0", { max_in_flight: 0 }, "/max_in_flight", "INVALID_REQUEST"],
    ["reserved webhook-* header", { headers: { "webhook-id": "x" } }, "/headers/webhook-id", "INVALID_REQUEST"],
    [
      "reserved x-brain-* header",
      { headers: { "X-Brain-Attempt": "1" } },
      "/headers/X-Brain-Attempt",
      "INVALID_REQUEST",
    ],
    [
      "reserved content-type header",
      { headers: { "Content-Type": "text/plain" } },
      "/headers/Content-Type",
      "INVALID_REQUEST",
    ],
    ["reserved host header", { headers: { host: "evil" } }, "/headers/host", "INVALID_REQUEST"],
    ["invalid header name", { headers: { "a b": "x" } }, "/headers/a b", "INVALID_REQUEST"],
    ["header value not a string", { headers: { "x-n": 1 } }, "/headers/x-n", "INVALID_REQUEST"],
    ["header value with a newline", { headers: { "x-n": "a\r\nb: c" } }, "/headers/x-n", "INVALID_REQUEST"],
    ["secret without whsec_", { secret: "abc" }, "/secret", "INVALID_REQUEST"],
    ["secret of 16 bytes", { secret: "whsec_" + Buffer.alloc(16).toString("base64") }, "/secret", "INVALID_REQUEST"],
    ["unknown key", { colour: "blue" }, "/colour", "INVALID_REQUEST"],
  ];
  for (const [what, over, path, code] of cases) {
    const res = await create({ ...base, ...over });
    t.equal(res.statusCode, 400, what);
    t.equal(res.json().code, code, `${what}: code`);
    t.ok(
      res.json().details?.some((d: { path: string }) => d.path === path),
      `${what}: details name ${path}`,
    );
  }
  const timeout = await create({ ...base, timeout_ms: config.claimIdleMs });
  t.match(timeout.json().message, /below BRAIN_CLAIM_IDLE_MS \(60000\)/, "the message says why");
  t.equal((await get("rules")).statusCode, 404, "nothing was created");
  t.notOk((await groupNames()).has("rules"), "no group was created");
});

t.test("a URL reaching loopback is refused at create and at PATCH with URL_NOT_ALLOWED", async (t) => {
  for (const url of [
    "http://127.0.0.1:8080/hook",
    "http://localhost:8080/hook",
    `http://${hostname()}:8080/hook`,
    "http://[::ffff:7f00:1]/",
  ]) {
    const res = await create({ name: "ssrf", url, event_types: ["*"] });
    t.equal(res.statusCode, 400, url);
    t.match(res.json(), { code: "URL_NOT_ALLOWED", details: [{ path: "/url" }] }, url);
  }
  t.equal((await create({ name: "ssrf", url: HOOK, event_types: ["*"] })).statusCode, 201);
  const res = await patch("ssrf", { url: "http://169.254.169.254/latest/meta-data" });
  t.equal(res.statusCode, 400);
  t.equal(res.json().code, "URL_NOT_ALLOWED");
  t.equal((await get("ssrf")).json().url, HOOK, "the URL did not change");
});

t.test("with BRAIN_WEBHOOK_ALLOW_PRIVATE=true loopback URLs are accepted", async (t) => {
  const { app: open } = await buildApp(t, { ...QUIET, BRAIN_WEBHOOK_ALLOW_PRIVATE: "true" });
  t.equal((await create({ name: "local", url: "http://127.0.0.1:9/hook", event_types: ["*"] }, open)).statusCode, 201);
  t.equal(
    (await create({ name: "named", url: `http://${hostname()}:9/hook`, event_types: ["*"] }, open)).statusCode,
    201,
  );
  t.equal(
    (await create({ name: "ftp", url: "ftp://127.0.0.1/", event_types: ["*"] }, open)).json().code,
    "INVALID_REQUEST",
    "but only http(s): the schema says so",
  );
});

/** Asserts a 400 in the shared shape whose details name `path`. */
function refused(t: Test, res: { statusCode: number; json(): Record<string, unknown> }, path: string, what: string) {
  t.equal(res.statusCode, 400, `${what}: 400`);
  t.match(res.json(), { statusCode: 400, code: String, error: "Bad Request", message: String }, `${what}: shape`);
  const details = res.json()["details"] as { path: string }[] | undefined;
  t.ok(
    details?.some((d) => d.path === path),
    `${what}: details name ${path}`,
  );
}

t.test("a NUL character in any stored string is refused with 400 at create and PATCH, not a 500", async (t) => {
  const base = { name: "nul", url: HOOK, event_types: ["*"] };
  const cases: [string, Record<string, unknown>, string][] = [
    ["description", { description: "ops\u0000pager" }, "/description"],
    ["url path", { url: "https://8.8.8.8/ho\u0000ok" }, "/url"],
    ["url query", { url: "https://8.8.8.8/hook?a=\u0000" }, "/url"],
    ["url with another control character", { url: "https://8.8.8.8/ho\u0007ok" }, "/url"],
    ["header value", { headers: { "x-a": "a\u0000b" } }, "/headers/x-a"],
    ["header name", { headers: { "x-\u0000": "a" } }, "/headers/x-\u0000"],
    ["event type", { event_types: ["a.b\u0000"] }, "/event_types/0"],
    ["name", { name: "nu\u0000l" }, "/name"],
    ["secret", { secret: "whsec_\u0000" }, "/secret"],
  ];
  for (const [what, over, path] of cases) refused(t, await create({ ...base, ...over }), path, `create: ${what}`);
  t.equal((await get("nul")).statusCode, 404, "nothing was created");

  t.equal((await create({ ...base, description: "ops pager" })).statusCode, 201);
  for (const [what, over, path] of cases.slice(0, 7)) {
    refused(t, await patch("nul", over), path, `PATCH: ${what}`);
  }
  t.match((await get("nul")).json(), { url: HOOK, description: "ops pager", headers: {} }, "nothing changed");
  t.equal((await patch("nul", { description: "line one\nline two" })).statusCode, 200, "other text is fine");
});

t.test("hop-by-hop headers are refused at create and PATCH, in any letter case, naming the header", async (t) => {
  const names = [
    "Transfer-Encoding",
    "Expect",
    "Upgrade",
    "Keep-Alive",
    "Connection",
    "TE",
    "Trailer",
    "Proxy-Connection",
    "proxy-authorization",
  ];
  for (const name of names) {
    const res = await create({ name: "hop", url: HOOK, event_types: ["*"], headers: { [name]: "x", "x-ok": "1" } });
    refused(t, res, `/headers/${name}`, `create: ${name}`);
    t.match(res.json(), { code: "INVALID_REQUEST", details: [{ message: /hop-by-hop/ }] });
  }
  t.equal((await get("hop")).statusCode, 404, "nothing was created");
  t.equal((await create({ name: "hop", url: HOOK, event_types: ["*"], headers: { "x-ok": "1" } })).statusCode, 201);
  for (const name of names) refused(t, await patch("hop", { headers: { [name]: "x" } }), `/headers/${name}`, name);
  t.same((await get("hop")).json().headers, { "x-ok": "1" }, "the headers did not change");
});
