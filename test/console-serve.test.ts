import t from "tap";
import Fastify from "fastify";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import consolePlugin, { CONSOLE_CSP } from "../src/plugins/console.js";
import { loadConfig } from "../src/config.js";
import { installErrorHandling } from "../src/errors.js";
import { buildApp } from "./helpers/app.js";
import { consoleAssets } from "./helpers/console.js";
import { TOKENS } from "./helpers/env.js";

t.test("the console is served with a strict CSP, long-cached assets and a revalidated index", async (t) => {
  const { files } = consoleAssets();
  const { app } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_TRIM_INTERVAL_MS: "0" });
  for (const url of ["/console", "/console/"]) {
    const res = await app.inject(url);
    t.equal(res.statusCode, 200, url);
    t.match(res.headers["content-type"], /^text\/html/);
    t.match(res.body, /<div id="app">/);
    t.equal(res.headers["content-security-policy"], CONSOLE_CSP, `${url}: CSP`);
    t.equal(res.headers["x-content-type-options"], "nosniff");
    t.equal(res.headers["referrer-policy"], "no-referrer");
    t.equal(res.headers["cache-control"], "no-cache", "index.html is revalidated: it names the current assets");
  }
  t.match(CONSOLE_CSP, "script-src 'self';");
  t.notMatch(CONSOLE_CSP, "unsafe", "nothing inline or eval'd is allowed");

  const asset = files.find((f) => f.endsWith(".js"))!;
  const res = await app.inject(`/console/assets/${asset}`);
  t.equal(res.statusCode, 200);
  t.match(res.headers["content-type"], /javascript/);
  t.match(res.headers["cache-control"], /max-age=31536000.*immutable/, "hashed assets are cached for a year");
  t.equal(res.headers["content-security-policy"], CONSOLE_CSP);

  const missing = await app.inject("/console/assets/nothing-here.js");
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().code, "NOT_FOUND", "the shared error shape");
  const traversal = await app.inject("/console/assets/..%2f..%2fpackage.json");
  t.equal(traversal.statusCode, 404, "nothing outside the assets folder is served");

  const doc = (await app.inject("/openapi.json")).json() as { paths: Record<string, unknown> };
  t.notOk(
    Object.keys(doc.paths).some((p) => p.startsWith("/console")),
    "/console is not an API operation: the OpenAPI document leaves it out",
  );
});

t.test("a dispatcher-only process serves no console", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "dispatcher", BRAIN_TRIM_INTERVAL_MS: "0" });
  const res = await app.inject("/console");
  t.equal(res.statusCode, 404);
  t.equal(res.json().code, "NOT_FOUND");
});

t.test("a gateway whose console was not built says so, in the error shape, under the same CSP", async (t) => {
  const app = Fastify();
  app.decorate("config", loadConfig({ BRAIN_API_TOKENS: TOKENS }));
  installErrorHandling(app);
  await app.register(consolePlugin, { root: mkdtempSync(join(tmpdir(), "no-console-")) });
  t.teardown(() => app.close());
  const res = await app.inject("/console");
  t.equal(res.statusCode, 404);
  t.equal(res.json().code, "CONSOLE_NOT_BUILT");
  t.match(res.json().message, "npm run build");
  t.equal(res.headers["content-security-policy"], CONSOLE_CSP);
});
