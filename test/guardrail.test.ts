import t, { type Test } from "tap";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ESLint } from "eslint";
import { ROOT } from "./helpers/app.js";

const GUARDRAIL_RULES = new Set(["no-restricted-syntax", "no-restricted-properties"]);
const eslint = new ESLint({ cwd: ROOT });

/** Lints a fixture as if it lived at `asPath`; returns the guardrail violations as `line:rule`. */
async function violations(t: Test, fixture: string, asPath: string): Promise<string[]> {
  const code = await readFile(join(ROOT, "test/fixtures/guardrail", fixture), "utf8");
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, asPath) });
  t.ok(result, "linted");
  t.equal(result!.fatalErrorCount, 0, `${fixture} parses`);
  return result!.messages.filter((m) => GUARDRAIL_RULES.has(m.ruleId ?? "")).map((m) => `${m.line}:${m.ruleId}`);
}

t.test("an xadd call outside the publisher fails lint, in src, test and bench", async (t) => {
  for (const path of ["src/routes/rogue.ts", "src/delivery/rogue.ts", "test/rogue.test.ts", "bench/rogue.ts"]) {
    t.same(await violations(t, "xadd-method.ts.txt", path), ["2:no-restricted-properties"], path);
  }
});

t.test("an XADD command or Lua string outside the publisher fails lint", async (t) => {
  t.same(await violations(t, "xadd-command.ts.txt", "src/stream/consumer.ts"), ["2:no-restricted-syntax", "3:no-restricted-syntax"]);
});

t.test("the publisher is the one module allowed to XADD", async (t) => {
  t.same(await violations(t, "xadd-method.ts.txt", "src/stream/publisher.ts"), []);
  t.same(await violations(t, "xadd-command.ts.txt", "src/stream/publisher.ts"), []);
});

t.test("a legacy flag name fails lint anywhere but the config module that rejects it", async (t) => {
  const expected = ["1:no-restricted-syntax", "2:no-restricted-syntax", "2:no-restricted-syntax"];
  for (const path of ["src/app.ts", "src/plugins/redis.ts", "test/rogue.test.ts", "src/stream/publisher.ts"]) {
    t.same(await violations(t, "legacy-flag.ts.txt", path), expected, path);
  }
  t.same(await violations(t, "legacy-flag.ts.txt", "src/config.ts"), [], "config.ts lists them to reject them");
});

t.test("ordinary code passes the guardrail", async (t) => {
  t.same(await violations(t, "clean.ts.txt", "src/routes/rogue.ts"), []);
});
