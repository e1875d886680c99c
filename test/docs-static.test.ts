/**
 * The docs assets are served from node_modules by @fastify/static: a path that climbs out of the
 * asset folder (plain, percent-encoded or double-encoded, on a real socket, which normalizes
 * nothing) never reaches another file.
 */
import t from "tap";
import { request } from "node:http";
import { buildApp } from "./helpers/app.js";

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "GET" }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

t.test("no path reaches a file outside the docs assets", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_TRIM_INTERVAL_MS: "0" });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as { port: number };
  t.equal((await get(port, "/docs/static/swagger-ui-bundle.js")).status, 200, "an asset is served");
  for (const path of [
    "/docs/static/../../../../package.json",
    "/docs/static/..%2f..%2f..%2f..%2fpackage.json",
    "/docs/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json",
    "/docs/static/..%252f..%252f..%252f..%252fpackage.json",
    "/docs/static/..\\\\..\\\\..\\\\..\\\\package.json",
  ]) {
    const res = await get(port, path);
    t.notMatch(res.body, /"brain-event-gateway"/, `${path}: ${res.status}`);
    t.ok(res.status >= 400, `${path} is refused`);
  }
});
