import t from "tap";
import { createFastify } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { TOKENS } from "./helpers/env.js";

/** Log lines as parsed objects. */
function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: { level, stream: { write: (line: string) => lines.push(JSON.parse(line)) } } };
}

// Request loggers are made lazily and per route level (plugins/http-server.ts childLoggerFactory):
// what a request logs must still carry its id, at the route's level, with the redaction applied.
t.test("request loggers keep the request id, the route's level and the redaction", async (t) => {
  const { lines, logger } = capture("info");
  const app = createFastify(loadConfig({ BRAIN_API_TOKENS: TOKENS }), logger);
  app.get("/quiet", { logLevel: "warn" }, async (request) => {
    request.log.info("below the route's level");
    request.log.warn({ headers: { authorization: "Bearer x" } }, "at the route's level");
    return {};
  });
  app.get("/loud", { logLevel: "debug" }, async (request) => {
    request.log.debug("debug passes here");
    request.log.child({ step: "inner" }).trace("below debug");
    return {};
  });
  app.get("/default", async (request) => {
    request.log.debug("below the server's level");
    return {};
  });
  t.teardown(() => app.close());
  await app.inject("/quiet");
  await app.inject("/loud");
  await app.inject("/default");

  const msgs = lines.map((l) => [l["reqId"], l["msg"]]);
  t.notOk(
    msgs.some(([, m]) => m === "below the route's level" || m === "below the server's level" || m === "below debug"),
    "lines below the level are dropped",
  );
  const warn = lines.find((l) => l["msg"] === "at the route's level");
  t.equal(warn?.["reqId"], "req-1", "the quiet route's line carries its request id");
  t.same(warn?.["headers"], { authorization: "[redacted]" }, "and is redacted");
  t.notOk(
    lines.some((l) => l["reqId"] === "req-1" && l["msg"] === "incoming request"),
    "no access log below the route's level",
  );
  t.ok(
    lines.some((l) => l["reqId"] === "req-2" && l["msg"] === "debug passes here"),
    "a route's lower level is honoured",
  );
  t.ok(
    lines.some((l) => l["reqId"] === "req-3" && l["msg"] === "request completed"),
    "other routes keep their access log, with the id",
  );
});
