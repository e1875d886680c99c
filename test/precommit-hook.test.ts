/**
 * The pre-commit guardrail (Charter TEIL C2): `npm install` (the `prepare` script) points git at
 * .githooks/, whose pre-commit refuses a staged line naming a removed legacy flag, in a file of
 * any type, and a staged source file that breaks the lint guardrail. Run in a throwaway repository.
 */
import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./helpers/env.js";

// Assembled, so that this file names no flag itself (the lint guardrail would refuse it).
const FLAG = "ENABLE_EVENT" + "_STREAM";

const repo = mkdtempSync(join(tmpdir(), "brain-hooks-"));
t.teardown(() => rmSync(repo, { recursive: true, force: true }));
const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, encoding: "utf8" }).trim();
for (const file of ["package.json", "eslint.config.js"]) cpSync(join(ROOT, file), join(repo, file));
cpSync(join(ROOT, ".githooks"), join(repo, ".githooks"), { recursive: true });
symlinkSync(join(ROOT, "node_modules"), join(repo, "node_modules"));
git("init", "-q");
git("config", "user.email", "ci@example.com");
git("config", "user.name", "CI");
writeFileSync(join(repo, ".gitignore"), "node_modules\n");

/** Stages `files` and tries to commit; resolves with the exit status and what the hook printed. */
function commit(files: Record<string, string>) {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(repo, name, ".."), { recursive: true });
    writeFileSync(join(repo, name), text);
    git("add", name);
  }
  const res = spawnSync("git", ["commit", "-q", "-m", "change"], { cwd: repo, encoding: "utf8" });
  return { status: res.status, output: res.stdout + res.stderr };
}

t.test("npm install sets up the hooks through the prepare script", async (t) => {
  execFileSync("npm", ["run", "-s", "prepare"], { cwd: repo });
  t.equal(git("config", "core.hooksPath"), ".githooks");
  t.equal(commit({ ".gitignore": "node_modules\n", "notes.txt": "nothing to see\n" }).status, 0, "a clean commit");
});

t.test("a staged line naming a legacy flag is refused, whatever the file type", async (t) => {
  for (const name of ["deploy/compose.yml", "scripts/start.sh", "src/feature.ts"]) {
    const res = commit({ [name]: `# set ${FLAG}=true\n` });
    t.not(res.status, 0, `${name}: refused`);
    t.match(res.output, name, `${name}: the message names the file`);
    git("reset", "-q", "--hard");
  }
});

t.test("a staged source file that breaks the lint guardrail is refused", async (t) => {
  const res = commit({ "src/routes/rogue.ts": 'export const go = (r: { xadd(k: string): void }) => r.xadd("k");\n' });
  t.not(res.status, 0, "refused");
  t.match(res.output, /Charter TEIL C/, "by the XADD rule");
  git("reset", "-q", "--hard");
  t.equal(commit({ "src/routes/fine.ts": "export const one = 1;\n" }).status, 0, "a clean source file commits");
});
