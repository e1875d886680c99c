/**
 * Replay benchmark (issue 12 item 4): does a replay running at its highest rate slow the live
 * deliveries of the same subscriber? One gateway (`dist/server.js`), one receiver in this process.
 *
 *   npm run build && node bench/replay.js
 *
 * BENCH_HISTORY events are appended first (the history a replay re-sends), then the subscriber is
 * created at `latest`, so live delivery sees only what comes after. Then, alternating, BENCH_ROUNDS
 * times: a *baseline* window (live load only) and a *replay* window (the same live load while a
 * replay of the history runs at max_per_second=BENCH_REPLAY_RATE, cancelled at the window's end).
 * Live load: BENCH_RATE events/s in batches of 10 on a fixed schedule; each event carries its send
 * time, and latency = arrival at the receiver − send time (first second of each window left out).
 * Printed: live p50/p99 per window kind and their ratios (replay / baseline), the replay's
 * achieved request rate, and the gateway's CPU per window.
 *
 * Env: BENCH_HISTORY=20000 BENCH_ROUNDS=2 BENCH_SECONDS=8 BENCH_RATE=200 BENCH_REPLAY_RATE=1000
 */
import { once } from "node:events";
import { createServer } from "node:http";
import { BenchRun, cpuSeconds, DELIVERY_ENV, env, envelope, fmt, median, percentile, sleep } from "./lib.js";

const HISTORY = Number(env.BENCH_HISTORY ?? 20_000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 2);
const SECONDS = Number(env.BENCH_SECONDS ?? 8);
const RATE = Number(env.BENCH_RATE ?? 200);
const REPLAY_RATE = Number(env.BENCH_REPLAY_RATE ?? 1000);

const run = new BenchRun("replay");
let live = [];
let replayed = [];
const receiver = createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const now = Date.now();
    if (req.headers["x-brain-replay"]) replayed.push(now);
    else live.push({ at: now, sent: JSON.parse(body).payload.sent_at });
    res.writeHead(200).end();
  });
});
receiver.keepAliveTimeout = 60_000;
receiver.listen(0, "127.0.0.1");
await once(receiver, "listening");
const hook = `http://127.0.0.1:${receiver.address().port}/hook`;

let allMet = false;
try {
  const { gateway, url: base } = await run.startGateway(await run.createDatabase(), `${run.keyPrefix}:stream`, {
    env: DELIVERY_ENV,
  });
  const api = async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${run.token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const batch = async (n, extra) =>
    api("POST", "/v1/events/batch", { events: Array.from({ length: n }, () => envelope(extra())) });

  let first;
  for (let done = 0; done < HISTORY; done += 500) {
    const { results } = await batch(Math.min(500, HISTORY - done), () => ({}));
    first ??= results[0].stream_message_id;
  }
  await api("POST", "/v1/subscribers", { name: "bench", url: hook, event_types: ["*"] });

  /** One window of live load; a replay runs through it when `withReplay`. */
  const window = async (withReplay) => {
    live = [];
    replayed = [];
    const replay = withReplay
      ? await api("POST", "/v1/subscribers/bench/replays", { from: first, max_per_second: REPLAY_RATE })
      : null;
    const cpu0 = cpuSeconds(gateway.child.pid);
    const start = Date.now();
    const batches = (RATE / 10) * SECONDS;
    for (let i = 0; i < batches; i++) {
      await sleep(Math.max(0, start + (i * 10_000) / RATE - Date.now()));
      void batch(10, () => ({ sent_at: Date.now() }));
    }
    await sleep(500);
    const cpu = cpuSeconds(gateway.child.pid) - cpu0;
    if (replay) await api("DELETE", `/v1/subscribers/bench/replays/${replay.id}`);
    const lat = live
      .filter((l) => l.sent >= start + 1000)
      .map((l) => l.at - l.sent)
      .sort((a, b) => a - b);
    const inWindow = replayed.filter((at) => at >= start + 1000 && at < start + SECONDS * 1000);
    return {
      delivered: live.length,
      expected: RATE * SECONDS,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      replayRate: inWindow.length / (SECONDS - 1),
      cpu,
    };
  };

  const results = { baseline: [], replay: [] };
  for (let r = 0; r < ROUNDS; r++) {
    results.baseline.push(await window(false));
    await sleep(1000);
    results.replay.push(await window(true));
    await sleep(1000);
  }
  for (const [kind, rows] of Object.entries(results)) {
    for (const w of rows) {
      console.log(
        `${kind.padEnd(8)} live ${w.delivered}/${w.expected} delivered, p50 ${w.p50} ms, p99 ${w.p99} ms; ` +
          `replay ${fmt(w.replayRate)} req/s; gateway CPU ${fmt(w.cpu, 2)} s`,
      );
    }
  }
  const med = (kind, key) => median(results[kind].map((w) => w[key]));
  console.log(
    `live p50 ratio (replay/baseline) ${fmt(med("replay", "p50") / med("baseline", "p50"), 2)}, ` +
      `p99 ratio ${fmt(med("replay", "p99") / med("baseline", "p99"), 2)}; ` +
      `replay achieved ${fmt(med("replay", "replayRate"))} of ${REPLAY_RATE} req/s`,
  );
  allMet = Object.values(results).every((rows) => rows.every((w) => w.delivered >= w.expected));
} finally {
  receiver.closeAllConnections();
  receiver.close();
  await run.cleanup(allMet);
}
process.exit(allMet ? 0 : 1);
