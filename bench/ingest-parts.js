/**
 * The parts of an ingest request that issue 13 rewrote, each timed against what it replaced in
 * the same process and run (rounds alternate which goes first; medians): ns per call. On a
 * shared 2-core VM, whole-server req/s swings ±25 % between rounds (bench/RESULTS.md); a tight
 * loop over one part is steadier, and says what each change is worth per request.
 *
 *   npm run build && node bench/ingest-parts.js      BENCH_ROUNDS=5 BENCH_ITERATIONS=200000
 *
 * The "before" column is the code as it was before issue 13 (commit f58821d), kept here as the
 * measuring stick.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { loadConfig } from "../dist/config.js";
import { inspect, withinLimits, MAX_PAYLOAD_DEPTH } from "../dist/ingest/prepare.js";
import { authHook } from "../dist/plugins/auth.js";
import { childLoggerFactory, loggerOptions } from "../dist/plugins/http-server.js";
import { envelope, env, median } from "./lib.js";

const ROUNDS = Number(env.BENCH_ROUNDS ?? 5);
const N = Number(env.BENCH_ITERATIONS ?? 200_000);

const TOKEN = "bench-token-0123456789abcdef";
const config = loadConfig({ BRAIN_API_TOKENS: `${TOKEN}=admin+publish,other-token-0123456789=publish` });

// Token check: before, a Hash object per request and a timingSafeEqual against every token.
const digestBefore = (s) => createHash("sha256").update(s).digest();
const knownBefore = config.tokens.map((t) => ({ digest: digestBefore(t.token), scopes: t.scopes }));
const authBefore = (header) => {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const presented = digestBefore(m[1]);
  let match;
  for (const t of knownBefore) if (timingSafeEqual(t.digest, presented)) match = t;
  return match.scopes.has("publish");
};
const hook = authHook(config.tokens);
const request = { headers: { authorization: `Bearer ${TOKEN}` }, routeOptions: { config: { scope: "publish" } } };
const authAfter = () => hook(request, null, (err) => err);

// Depth and number walk over the bench's envelope.
const body = JSON.parse(JSON.stringify(envelope({ seq: 1 })));

// Request logger: before, pino's child with Fastify's options (ingest's level) per request.
const sink = { write() {} };
const logger = pino({ ...loggerOptions({ level: "info" }), level: "info" }, sink);
const factory = childLoggerFactory();
let reqId = 0;

const parts = {
  "token check": [() => authBefore(request.headers.authorization), authAfter],
  "depth and number walk": [() => inspect(body, MAX_PAYLOAD_DEPTH), () => withinLimits(body, 0, MAX_PAYLOAD_DEPTH)],
  "request logger (nothing logged)": [
    () => logger.child({ reqId: `req-${reqId++}` }, { level: "warn" }).info("dropped"),
    () => factory(logger, { reqId: `req-${reqId++}` }, { level: "warn" }).info("dropped"),
  ],
};

const time = (fn) => {
  const start = performance.now();
  for (let i = 0; i < N; i++) fn();
  return ((performance.now() - start) * 1e6) / N;
};

console.log(`# ingest parts  ${new Date().toISOString()}  node ${process.version}, ${ROUNDS} rounds × ${N} calls\n`);
console.log("| part | before ns/call | after ns/call | saved µs per request |");
console.log("|---|---:|---:|---:|");
for (const [name, [before, after]] of Object.entries(parts)) {
  time(before);
  time(after);
  const b = [];
  const a = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      b.push(time(before));
      a.push(time(after));
    } else {
      a.push(time(after));
      b.push(time(before));
    }
  }
  const mb = median(b);
  const ma = median(a);
  console.log(`| ${name} | ${mb.toFixed(0)} | ${ma.toFixed(0)} | ${((mb - ma) / 1000).toFixed(2)} |`);
}
