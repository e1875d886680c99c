import t from "tap";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, BOTH_TOKEN, PUBLISH_TOKEN, testEnv } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";
import { spawnGateway } from "./helpers/processes.js";

t.test("bearer tokens and scopes on /v1", async (t) => {
  const { app, config } = await buildApp(t);
  const publish = (headers: Record<string, string>) =>
    app.inject({ method: "POST", url: "/v1/events", headers, payload: envelope() });
  const browse = (headers: Record<string, string>) => app.inject({ method: "GET", url: "/v1/events", headers });

  t.test("no, malformed or unknown tokens are 401 in the shared error shape", async (t) => {
    const cases: [string, Record<string, string>][] = [
      ["missing", {}],
      ["empty", { authorization: "" }],
      ["no scheme", { authorization: PUBLISH_TOKEN }],
      ["basic scheme", { authorization: `Basic ${Buffer.from(`u:${PUBLISH_TOKEN}`).toString("base64")}` }],
      ["bearer without token", { authorization: "Bearer " }],
      ["two tokens", { authorization: `Bearer ${PUBLISH_TOKEN} ${ADMIN_TOKEN}` }],
      ["unknown", auth("not-a-configured-token-000")],
      ["a prefix of a real token", auth(PUBLISH_TOKEN.slice(0, -1))],
      ["a real token plus a character", auth(`${PUBLISH_TOKEN}x`)],
    ];
    for (const [name, headers] of cases) {
      for (const res of [await publish(headers), await browse(headers)]) {
        t.equal(res.statusCode, 401, name);
        t.match(res.json(), { statusCode: 401, code: "UNAUTHORIZED", error: "Unauthorized", message: String }, name);
      }
    }
    t.equal(await app.redis.xlen(config.stream), 0, "nothing was appended without a valid token");
  });

  t.test("a token lacking the route's scope is 403", async (t) => {
    const wrongScope = await publish(auth(ADMIN_TOKEN));
    t.equal(wrongScope.statusCode, 403, "an admin-only token cannot publish");
    t.match(wrongScope.json(), { code: "FORBIDDEN", message: /publish/ });
    const batch = await app.inject({
      method: "POST",
      url: "/v1/events/batch",
      headers: auth(ADMIN_TOKEN),
      payload: { events: [envelope()] },
    });
    t.equal(batch.statusCode, 403);
    const adminRoute = await browse(auth(PUBLISH_TOKEN));
    t.equal(adminRoute.statusCode, 403, "a publish-only token cannot browse");
    t.match(adminRoute.json(), { code: "FORBIDDEN", message: /admin/ });
    t.equal(await app.redis.xlen(config.stream), 0);
  });

  t.test("the right scope passes; a token with both scopes reaches both kinds of route", async (t) => {
    t.equal((await publish(auth(PUBLISH_TOKEN))).statusCode, 202);
    t.equal(
      (await publish({ authorization: `bearer ${BOTH_TOKEN}` })).statusCode,
      202,
      "the scheme is case-insensitive",
    );
    t.equal((await browse(auth(ADMIN_TOKEN))).statusCode, 200);
    t.equal((await browse(auth(BOTH_TOKEN))).statusCode, 200);
  });

  t.test("health, docs and the OpenAPI document need no token", async (t) => {
    for (const url of ["/health/live", "/health/ready", "/openapi.json", "/docs/static/swagger-ui-bundle.js"]) {
      t.equal((await app.inject({ method: "GET", url })).statusCode, 200, url);
    }
  });
});

t.test("without BRAIN_API_TOKENS a real gateway prints one generated token on stderr, and it works", async (t) => {
  const { BRAIN_API_TOKENS: _, ...env } = await testEnv(t);
  // LOG_LEVEL silent: the token must be printed whatever the log level.
  const gw = await spawnGateway(t, { ...env, LOG_LEVEL: "silent" });
  t.equal(gw.child.exitCode, null, `running: ${gw.stderr()}`);
  let token: string | undefined;
  const deadline = Date.now() + 5000;
  while (token === undefined && Date.now() < deadline) {
    token = /BRAIN_API_TOKENS is unset[^\n]*\n\s*(\S+)/.exec(gw.stderr())?.[1];
    if (token === undefined) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(token, `token printed: ${gw.stderr()}`);
  t.ok(token!.length >= 16);
  const headers = { ...auth(token!), "content-type": "application/json" };
  const published = await fetch(`${gw.url}/v1/events`, { method: "POST", headers, body: JSON.stringify(envelope()) });
  t.equal(published.status, 202, "the generated token publishes");
  const browsed = await fetch(`${gw.url}/v1/events`, { headers });
  t.equal(browsed.status, 200, "and administers");
  t.equal((await browsed.json()).events.length, 1);
  const anonymous = await fetch(`${gw.url}/v1/events`);
  t.equal(anonymous.status, 401, "the API is never open");
  t.equal(gw.stderr().split(token!).length - 1, 1, "the token is printed exactly once");
});
