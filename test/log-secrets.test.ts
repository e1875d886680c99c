import t from "tap";
import type { FastifyInstance } from "fastify";
import { build, createFastify } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { recordTrimmed } from "../src/db/dead-letters.js";
import { getSubscriberRow } from "../src/db/subscribers.js";
import { installErrorHandling } from "../src/errors.js";
import dbPlugin from "../src/plugins/db.js";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, testEnv } from "./helpers/env.js";
import { auth } from "./helpers/http.js";

const SECRET = "s3cr3t-parameter-value-4711";

/** Log lines written at `level` and above, as text. */
function capture(level = "info") {
  const lines: string[] = [];
  return { lines, logger: { level, stream: { write: (line: string) => lines.push(line) } } };
}

t.test("a failing query's parameters never reach the log; data exceptions are 400", async (t) => {
  const config = loadConfig(await testEnv(t, { BRAIN_ROLE: "api" }));
  const { lines, logger } = capture();
  // The real error handling and Postgres, with two routes whose queries fail on purpose.
  const app = createFastify(config, logger) as unknown as FastifyInstance;
  app.decorate("config", config);
  await app.register(dbPlugin, { config });
  installErrorHandling(app);
  app.post("/broken", async () => {
    // No such subscriber: the foreign key fails, and drizzle's error message lists every parameter.
    await recordTrimmed(app.db, `nobody-${SECRET}`, [{ id: "1-0", eventId: SECRET, json: SECRET }], SECRET);
    return {};
  });
  app.get("/nul", async () => getSubscriberRow(app.db, "a\u0000b"));
  await app.ready();
  t.teardown(() => app.close());

  const broken = await app.inject({ method: "POST", url: "/broken" });
  t.equal(broken.statusCode, 500);
  t.same(broken.json(), {
    statusCode: 500,
    code: "INTERNAL_ERROR",
    error: "Internal Server Error",
    message: "internal error",
  });
  const logged = lines.join("");
  t.match(logged, /"msg":"request failed"/, "the failure is logged");
  t.match(logged, /database query failed: insert or update on table/, "with the driver's message");
  t.match(logged, /"code":"23503"/, "and its SQLSTATE");
  t.notMatch(logged, SECRET, "but not one parameter");

  const nul = await app.inject({ method: "GET", url: "/nul" });
  t.equal(nul.statusCode, 400, "NUL in a text parameter is the request's fault");
  t.match(nul.json(), {
    statusCode: 400,
    code: "INVALID_REQUEST",
    error: "Bad Request",
    message: /cannot be stored: invalid byte sequence/,
  });
});

t.test("the API refuses NUL in stored text with a 400 in the shared shape", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_WEBHOOK_ALLOW_PRIVATE: "true" });
  const res = await app.inject({
    method: "POST",
    url: "/v1/subscribers",
    headers: auth(ADMIN_TOKEN),
    payload: { name: "nul", url: "http://127.0.0.1:9/hook", event_types: ["*"], description: "a\u0000b" },
  });
  t.equal(res.statusCode, 400);
  t.match(res.json(), { statusCode: 400, error: "Bad Request", message: String });
});

t.test("request logs carry no query string, no token, no subscriber header values", async (t) => {
  const config = loadConfig(await testEnv(t, { BRAIN_ROLE: "api" }));
  const { lines, logger } = capture();
  const app = await build(config, logger);
  t.teardown(() => app.close());
  await app.inject({ method: "GET", url: `/v1/events?limit=5&after=0-0&token=${SECRET}`, headers: auth(ADMIN_TOKEN) });
  app.log.info(
    { subscriber: { name: "s", headers: { "x-api-key": SECRET } }, req: { headers: { authorization: SECRET } } },
    "a line about a subscriber",
  );
  const logged = lines.join("");
  t.match(logged, /"url":"\/v1\/events"/, "the path is logged");
  t.notMatch(logged, "limit=5", "without its query");
  t.notMatch(logged, SECRET);
  t.notMatch(logged, ADMIN_TOKEN);
  t.match(logged, /"x-api-key":"\[redacted\]"/, "header names stay, values go");
});
