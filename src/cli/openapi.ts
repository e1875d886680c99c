/**
 * Writes the OpenAPI document the routes describe to openapi/openapi.json, or with `--check`
 * fails when the committed file differs from it (Charter TEIL C drift guard). Needs no services.
 */
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createFastify, registerHttp } from "../app.js";
import { loadConfig } from "../config.js";

const target = fileURLToPath(new URL("../../openapi/openapi.json", import.meta.url));
const config = loadConfig({ BRAIN_API_TOKENS: "openapi-generator-token=admin" });
const app = createFastify(config, false) as unknown as Parameters<typeof registerHttp>[0];
app.decorate("config", config);
await registerHttp(app);
await app.ready();
const document = `${JSON.stringify(app.swagger(), null, 2)}\n`;
await app.close();

if (process.argv.includes("--check")) {
  const committed = await readFile(target, "utf8").catch(() => "");
  if (committed !== document) {
    process.stderr.write("openapi/openapi.json is out of date with the routes: run `npm run openapi` and commit it\n");
    process.exit(1);
  }
  process.stdout.write("openapi/openapi.json is up to date\n");
} else {
  await writeFile(target, document);
  process.stdout.write(`wrote ${target}\n`);
}
