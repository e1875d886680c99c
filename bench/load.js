/**
 * The load generator as a process of its own: autocannon in the bench's own process would share
 * its event loop (and a core's worth of scheduling) with the bookkeeping, and on a 2-core box
 * the generator, the server and Redis already compete. Reads one JSON job from argv, runs
 * autocannon, prints its result as one JSON line.
 *
 *   node bench/load.js '{"url":"http://…","method":"POST","connections":50,"duration":10,"headers":{…},"body":"…"}'
 */
import autocannon from "autocannon";

const job = JSON.parse(process.argv[2] ?? "{}");
const result = await autocannon({ pipelining: 1, ...job });
process.stdout.write(JSON.stringify(result) + "\n");
