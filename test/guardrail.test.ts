/**
 * The architecture guardrails of eslint.config.js bite: each rule is shown failing on a fixture
 * linted as if it lived at a given path, and passing where the rule allows it.
 */
import t, { type Test } from "tap";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ESLint } from "eslint";
import { ROOT } from "./helpers/env.js";

const IMPORTS = "@typescript-eslint/no-restricted-imports";
const GUARDRAIL_RULES = new Set(["no-restricted-syntax", "no-restricted-properties", IMPORTS]);
const eslint = new ESLint({ cwd: ROOT });

/** Lints a fixture as if it lived at `asPath`; returns the guardrail violations as `line:rule`. */
async function violations(t: Test, fixture: string, asPath: string): Promise<string[]> {
  const code = await readFile(join(ROOT, "test/fixtures/guardrail", fixture), "utf8");
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, asPath) });
  t.ok(result, "linted");
  t.equal(result!.fatalErrorCount, 0, `${fixture} parses`);
  return result!.messages.filter((m) => GUARDRAIL_RULES.has(m.ruleId ?? "")).map((m) => `${m.line}:${m.ruleId}`);
}

const lines = (rule: string, ...numbers: number[]) => numbers.map((n) => `${n}:${rule}`);

t.test("an xadd call outside the publisher fails lint, in src, test, bench and examples", async (t) => {
  const paths = [
    "src/routes/rogue.ts",
    "src/delivery/rogue.ts",
    "src/stream/scripts.ts",
    "test/rogue.test.ts",
    "bench/rogue.ts",
    "examples/mission-control/rogue.ts",
  ];
  for (const path of paths) {
    t.same(await violations(t, "xadd-method.ts.txt", path), ["2:no-restricted-properties"], path);
  }
});

t.test("an XADD command or Lua string outside the publisher fails lint", async (t) => {
  t.same(
    await violations(t, "xadd-command.ts.txt", "src/consumer/event-consumer.ts"),
    lines("no-restricted-syntax", 2, 3),
  );
});

t.test("the Lua of the appending scripts may live only in the script registry", async (t) => {
  t.same(await violations(t, "xadd-command.ts.txt", "src/stream/scripts.ts"), lines("no-restricted-syntax", 2));
});

t.test("the publisher is the one module allowed to XADD", async (t) => {
  t.same(await violations(t, "xadd-method.ts.txt", "src/stream/publisher.ts"), []);
  t.same(await violations(t, "xadd-command.ts.txt", "src/stream/publisher.ts"), []);
});

t.test("a legacy flag name fails lint anywhere but the config module that rejects it", async (t) => {
  const expected = ["1:no-restricted-syntax", "2:no-restricted-syntax", "2:no-restricted-syntax"];
  const paths = [
    "src/app.ts",
    "src/plugins/redis.ts",
    "test/rogue.test.ts",
    "src/stream/publisher.ts",
    "examples/mission-control/rogue.ts",
  ];
  for (const path of paths) {
    t.same(await violations(t, "legacy-flag.ts.txt", path), expected, path);
  }
  t.same(await violations(t, "legacy-flag.ts.txt", "src/config.ts"), [], "config.ts lists them to reject them");
});

t.test("drizzle-orm, postgres and the table definitions are imported only in src/db", async (t) => {
  for (const path of ["src/routes/rogue.ts", "src/stream/rogue.ts", "src/plugins/db.ts", "src/consumer/settler.ts"]) {
    t.same(await violations(t, "sql-import.ts.txt", path), lines(IMPORTS, 1, 2, 3), path);
  }
  t.same(await violations(t, "sql-import.ts.txt", "src/db/rogue.ts"), []);
});

t.test("ioredis is value-imported only in src/stream and the Redis plugin; type imports are fine", async (t) => {
  for (const path of ["src/delivery/rogue.ts", "src/plugins/dispatcher.ts", "src/db/rogue.ts", "src/app.ts"]) {
    t.same(await violations(t, "redis-import.ts.txt", path), lines(IMPORTS, 1), path);
  }
  t.same(await violations(t, "redis-import.ts.txt", "src/stream/rogue.ts"), []);
  t.same(await violations(t, "redis-import.ts.txt", "src/plugins/redis.ts"), []);
});

t.test("an import against the layer order fails lint", async (t) => {
  t.same(await violations(t, "upward-import.ts.txt", "src/stream/rogue.ts"), lines(IMPORTS, 1, 2, 3, 4), "stream");
  t.same(await violations(t, "upward-import.ts.txt", "src/db/rogue.ts"), lines(IMPORTS, 1, 2, 3, 4, 5), "db");
  t.same(await violations(t, "upward-import.ts.txt", "src/consumer/rogue.ts"), lines(IMPORTS, 1, 2, 3, 4), "consumer");
  t.same(await violations(t, "upward-import.ts.txt", "src/delivery/rogue.ts"), lines(IMPORTS, 2, 3, 4), "delivery");
  t.same(await violations(t, "upward-import.ts.txt", "src/routes/rogue.ts"), lines(IMPORTS, 4), "routes");
  t.same(await violations(t, "upward-import.ts.txt", "src/schemas/rogue.ts"), lines(IMPORTS, 1, 2, 3, 4, 5), "schemas");
  t.same(await violations(t, "upward-import.ts.txt", "src/app.ts"), [], "the entry may import every layer");
});

t.test("imports downward pass", async (t) => {
  t.same(await violations(t, "downward-import.ts.txt", "src/consumer/rogue.ts"), []);
  t.same(
    await violations(t, "downward-import.ts.txt", "src/db/rogue.ts"),
    lines(IMPORTS, 2),
    "but db may not import stream",
  );
});

t.test("src/client and src/catalog import no server package and, of src, only schemas", async (t) => {
  for (const path of ["src/client/rogue.ts", "src/catalog/rogue.ts"]) {
    t.same(await violations(t, "sdk-import.ts.txt", path), lines(IMPORTS, 1, 2, 3, 4, 5, 6, 7, 8), path);
  }
});

t.test("no layer of the server imports src/client or src/catalog", async (t) => {
  for (const path of [
    "src/app.ts",
    "src/cli/rogue.ts",
    "src/routes/rogue.ts",
    "src/ingest/rogue.ts",
    "src/schemas/x.ts",
  ]) {
    t.same(await violations(t, "sdk-consumer.ts.txt", path), lines(IMPORTS, 1, 2), path);
  }
  t.same(await violations(t, "sdk-consumer.ts.txt", "src/client/rogue.ts"), [], "the client may use the catalog");
  t.same(await violations(t, "sdk-consumer.ts.txt", "src/embedded/rogue.ts"), [], "the package entry may use both");
});

t.test("the server may import types, and only types, from src/catalog/types.ts", async (t) => {
  for (const path of ["src/ingest/rogue.ts", "src/app.ts", "src/stream/rogue.ts"]) {
    t.same(await violations(t, "sdk-types.ts.txt", path), lines(IMPORTS, 2, 3, 4), path);
  }
});

t.test("ordinary code passes the guardrail", async (t) => {
  t.same(await violations(t, "clean.ts.txt", "src/routes/rogue.ts"), []);
});
