/**
 * Prints the heaviest frames of a V8 .cpuprofile (from `node --cpu-prof`): self time per
 * function and per package/file, so "what costs what" is readable without DevTools.
 *
 *   node bench/cpuprofile-top.js <file.cpuprofile> [top=30] [µs per request]
 *
 * With the process's CPU µs per request (the bench prints it), shares of the busy time (idle left
 * out) are shown as µs per request instead: what each part of a request costs.
 * PROFILE_SKIP_S=<s> leaves out the first seconds (start-up and warm-up: compiling schemas and
 * modules is not per-request work).
 */
import { readFileSync } from "node:fs";

const [file, topArg, perRequestArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: node bench/cpuprofile-top.js <file.cpuprofile> [top]\n");
  process.exit(2);
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas;
const skipUs = Number(process.env.PROFILE_SKIP_S ?? 0) * 1e6;
let elapsed = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  elapsed += dt[i] ?? 0;
  if (elapsed < skipUs) continue;
  self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0));
}
const perRequest = Number(perRequestArg ?? 0);
const idle = [...self].reduce((a, [id, us]) => (byId.get(id).callFrame.functionName === "(idle)" ? a + us : a), 0);
const total = [...self.values()].reduce((a, b) => a + b, 0) - (perRequest > 0 ? idle : 0);
const where = (cf) => {
  const url = cf.url.replace(/^file:\/\//, "");
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.includes("/dist/")) return "dist/" + url.split("/dist/")[1];
  return url || "(native)";
};
const fn = new Map();
const pkg = new Map();
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  if (perRequest > 0 && cf.functionName === "(idle)") continue;
  const k = `${cf.functionName || "(anonymous)"}  ${where(cf)}${cf.url ? ":" + (cf.lineNumber + 1) : ""}`;
  fn.set(k, (fn.get(k) ?? 0) + us);
  const p = where(cf);
  pkg.set(p, (pkg.get(p) ?? 0) + us);
}
const pct = (us) =>
  perRequest > 0
    ? ((perRequest * us) / total).toFixed(2).padStart(6) + " µs"
    : ((100 * us) / total).toFixed(1).padStart(5) + " %";
console.log(`total sampled ${(total / 1e6).toFixed(1)} s\n\n-- self time by package/file --`);
for (const [k, us] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
console.log("\n-- self time by function --");
for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
