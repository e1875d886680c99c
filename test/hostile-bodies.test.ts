import t, { type Test } from "tap";
import { fetch } from "undici";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

const MIB = 1024 * 1024;
const META = '{"schema_version":1,"producer":"p","source_module":"m"';

/** `count` comma-separated copies of `item(i)`, as many as fit in `bytes`. */
function fill(bytes: number, item: (i: number) => string): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const next = item(i);
    parts.push(next);
    size += next.length + 1;
  }
  return parts.join(",");
}

interface Answer {
  status: number;
  /** Wall time, and the CPU time of this process (the gateway and the client): the first grows with load. */
  ms: number;
  cpuMs: number;
  bytes: number;
  body: { code: string; details?: { path: string; message: string }[] };
}

t.test("hostile bodies of up to 1 MiB are refused in bounded time with small answers", async (t) => {
  const { app, config } = await buildApp(t);
  await app.listen({ port: 0, host: "127.0.0.1" });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

  /** Posts `body` over a real socket; the time covers parsing, validation and the whole answer. */
  async function send(path: string, body: string, token = PUBLISH_TOKEN): Promise<Answer> {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const res = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { ...auth(token), "content-type": "application/json" },
      body,
    });
    const text = await res.text();
    const { user, system } = process.cpuUsage(cpu);
    const ms = Math.round(performance.now() - started);
    const cpuMs = Math.round((user + system) / 1000);
    return { status: res.status, ms, cpuMs, bytes: Buffer.byteLength(text), body: JSON.parse(text) };
  }

  function bounded(t: Test, name: string, body: string, a: Answer) {
    const size = (body.length / MIB).toFixed(2);
    t.comment(`${name}: ${size} MiB → ${a.status} ${a.body.code} in ${a.ms} ms (${a.cpuMs} ms CPU), ${a.bytes} B`);
    t.ok(body.length > 0.95 * MIB && body.length <= config.maxBodyBytes, `${name}: the body is about 1 MiB`);
    t.equal(a.status, 400, name);
    // CPU time is what the request costs the event loop; wall time also counts other processes on a busy machine.
    // Alone these cost 200–650 ms; the suite's parallel files (tsc, npm pack) inflate CPU time on this 2-core VM
    // up to about 2×. Checking every item of such a body, which this guards against, took many seconds.
    t.ok(a.cpuMs < 2000, `${name}: answered with ${a.cpuMs} ms of CPU`);
    t.ok(a.ms < 3000, `${name}: answered in ${a.ms} ms`);
    t.ok(a.bytes < 64 * 1024, `${name}: the answer is ${a.bytes} bytes`);
    t.ok((a.body.details ?? []).length <= 21, `${name}: at most 20 details and a count of the rest`);
  }

  const limit = config.maxBodyBytes - 64;
  // Unmeasured first requests: the first answer of each kind also pays for loading and compiling
  // the code it runs (the test loader compiles TypeScript lazily), which is no cost of the body.
  await send("/v1/events/batch", `{"events":[${"{},".repeat(600)}{}]}`);
  await send("/v1/events", `{"type":"x","source":"s","payload":{},"meta":${META},"k":null}}`);

  t.test("a batch of ~350,000 empty envelopes is BATCH_TOO_LARGE before any is validated", async (t) => {
    const body = `{"events":[${fill(limit - 20, () => "{}")}]}`;
    const a = await send("/v1/events/batch", body);
    bounded(t, "events of {}", body, a);
    t.equal(a.body.code, "BATCH_TOO_LARGE");
    t.same(a.body.details, [{ path: "/events", message: `${body.split("{}").length - 1} events` }]);
  });

  t.test("one envelope whose meta has ~85,000 bad keys reports its first problem", async (t) => {
    const body = `{"type":"x","source":"s","payload":{},"meta":${META},${fill(limit - 100, (i) => `"k${i}":null`)}}}`;
    const a = await send("/v1/events", body);
    bounded(t, "meta keys", body, a);
    t.equal(a.body.code, "INVALID_ENVELOPE");
    t.same(a.body.details?.[0], { path: "/meta/k0", message: "must be string,number,boolean" });
    t.match(a.body.details?.at(-1)?.message, /only the first problem/);
  });

  t.test("one envelope whose meta has ~85,000 valid keys is too large once stored", async (t) => {
    const body = `{"type":"x","source":"s","payload":{},"meta":${META},${fill(limit - 100, (i) => `"k${i}":1`)}}}`;
    const a = await send("/v1/events", body);
    t.comment(`valid meta keys: ${a.status} ${a.body.code} in ${a.ms} ms, ${a.bytes} B`);
    t.equal(a.status, 413);
    t.equal(a.body.code, "ENVELOPE_TOO_LARGE");
    t.ok(a.cpuMs < 1000);
  });

  t.test("one envelope with ~120,000 unknown top-level keys", async (t) => {
    const body = `{"type":"x","source":"s","payload":{},"meta":${META}},${fill(limit - 100, (i) => `"x${i}":0`)}}`;
    bounded(t, "unknown keys", body, await send("/v1/events", body));
  });

  t.test("a batch of 500 envelopes with 30 bad meta keys each: every problem counted, 20 shown", async (t) => {
    const bad = Array.from({ length: 30 }, (_, i) => `"k${i}":[]`).join(",");
    const item = `{"type":"x","source":"s","payload":{},"meta":${META},${bad}}}`;
    const body = `{"events":[${Array.from({ length: 500 }, () => item).join(",")}]}`;
    const a = await send("/v1/events/batch", body);
    t.comment(`500 × 30 bad keys: ${(body.length / 1024).toFixed(0)} KiB → ${a.status} in ${a.ms} ms, ${a.bytes} B`);
    t.equal(a.status, 400);
    t.ok(a.cpuMs < 1000);
    t.equal(a.body.details?.length, 21);
    t.same(a.body.details?.[0], { path: "/events/0/meta/k0", message: "must be string,number,boolean" });
    t.same(a.body.details?.[20], { path: "/", message: `${500 * 30 - 20} more problems not shown` });
  });

  t.test("any body, not only envelopes: a subscriber with ~60,000 bad headers", async (t) => {
    const headers = fill(limit - 200, (i) => `"h${i}":1`);
    const body = `{"name":"hostile","url":"https://example.com/hook","event_types":["*"],"headers":{${headers}}}`;
    bounded(t, "subscriber headers", body, await send("/v1/subscribers", body, ADMIN_TOKEN));
  });

  t.test("a long key is clipped in details", async (t) => {
    const res = await send("/v1/events", JSON.stringify(envelope({ ["k".repeat(100_000)]: 1 })));
    t.equal(res.status, 400);
    t.ok(res.bytes < 4096, `${res.bytes} bytes`);
  });

  t.test("nothing was written", async (t) => {
    t.equal(await app.redis.xlen(config.stream), 0);
  });
});

t.test("the documented batch schema carries BRAIN_MAX_BATCH as maxItems", async (t) => {
  for (const [env, max] of [[{}, 500] as const, [{ BRAIN_MAX_BATCH: "7" }, 7] as const]) {
    const { app } = await buildApp(t, env);
    const doc = (await app.inject({ method: "GET", url: "/openapi.json" })).json();
    t.equal(doc.components.schemas.BatchRequest.properties.events.maxItems, max);
  }
});
