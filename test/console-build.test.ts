import t from "tap";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { CONSOLE_DIR } from "../src/plugins/console.js";
import { consoleAssets } from "./helpers/console.js";

/** The console's whole budget, gzipped: issue 14 ("small, under 200 KB gzipped in all"). */
const BUDGET = 200 * 1024;

t.test("the built console fits its budget: under 200 KB gzipped, index and assets together", async (t) => {
  const { files } = consoleAssets();
  const sizes = ["index.html", ...files.map((f) => join("assets", f))].map((f) => ({
    f,
    gz: gzipSync(readFileSync(join(CONSOLE_DIR, f)), { level: 9 }).length,
  }));
  const total = sizes.reduce((n, s) => n + s.gz, 0);
  t.ok(total < BUDGET, `${total} bytes gzipped (${sizes.map((s) => `${s.f} ${s.gz}`).join(", ")})`);
});

t.test("index.html loads only its own files: no inline script or style (the CSP forbids them), no CDN", async (t) => {
  const { index, files } = consoleAssets();
  const scripts = [...index.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  t.ok(scripts.length > 0, "the app is loaded by a script element");
  for (const [, attrs, body] of scripts) {
    t.match(attrs, /\bsrc="\/console\/assets\/[^"]+\.js"/, "each script is a file under /console/assets");
    t.equal(body!.trim(), "", "and has no inline code (Vite's module-preload polyfill would add some)");
  }
  t.notMatch(index, /<style\b|\sstyle=/, "no inline style");
  t.notMatch(index, /\son[a-z]+=/i, "no inline event handler");
  t.notMatch(index, /(src|href)="(https?:)?\/\//, "nothing from another origin");
  for (const [, ref] of index.matchAll(/(?:src|href)="\/console\/assets\/([^"]+)"/g))
    t.ok(files.includes(ref!), `${ref} was built`);
});
