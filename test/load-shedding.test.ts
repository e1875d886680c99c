import t from "tap";
import { buildApp } from "./helpers/app.js";
import { PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

/** Blocks the event loop, as a CPU-bound request or a GC storm would. */
function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

t.test("a blocked event loop sheds ingest with 503 + Retry-After while health and metrics still answer", async (t) => {
  const { app } = await buildApp(t, { BRAIN_MAX_EVENT_LOOP_DELAY_MS: "30", BRAIN_TRIM_INTERVAL_MS: "0" });
  const publish = () =>
    app.inject({ method: "POST", url: "/v1/events", headers: auth(PUBLISH_TOKEN), payload: envelope() });
  // Loading the app may itself have blocked the loop past 30 ms: wait for a calm sample first.
  let first = 0;
  for (let i = 0; i < 50 && first !== 202; i++) {
    first = (await publish()).statusCode;
    if (first !== 202) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(first, 202, "accepted while calm");

  // The delay is sampled every second: block past a whole window, then ask everything at once.
  // An attempt counts only if the process was still under pressure after all four answers (the
  // state changes only at a sample, and without new blocking it can only clear), so the exempt
  // routes answered under pressure too.
  const underPressure = () => (app as unknown as { isUnderPressure(): boolean }).isUnderPressure();
  let shed;
  for (let i = 0; i < 10 && !shed; i++) {
    busy(1100);
    await new Promise((r) => setTimeout(r, 5));
    const [events, ready, live, metrics] = await Promise.all([
      publish(),
      app.inject({ method: "GET", url: "/health/ready" }),
      app.inject({ method: "GET", url: "/health/live" }),
      app.inject({ method: "GET", url: "/metrics" }),
    ]);
    if (events.statusCode === 503 && underPressure()) shed = { events, ready, live, metrics };
  }
  t.ok(shed, "ingest was shed under pressure");
  if (!shed) return;
  t.equal(shed.events.headers["retry-after"], "2");
  t.same(shed.events.json(), {
    statusCode: 503,
    code: "OVERLOADED",
    error: "Service Unavailable",
    message: "the gateway is overloaded; retry later",
  });
  t.equal(shed.ready.statusCode, 200, "readiness is exempt: a spike does not empty the load balancer");
  t.equal(shed.live.statusCode, 200, "liveness is exempt: a busy process is not restarted");
  t.equal(shed.metrics.statusCode, 200, "metrics are exempt: the overload stays observable");

  // Once the loop is calm again the next samples clear the pressure.
  let calm = 0;
  for (let i = 0; i < 50 && calm !== 202; i++) {
    await new Promise((r) => setTimeout(r, 200));
    calm = (await publish()).statusCode;
  }
  t.equal(calm, 202, "accepted again once the loop recovers");
});

t.test("thresholds of 0 turn shedding off", async (t) => {
  const { app } = await buildApp(t, {
    BRAIN_MAX_EVENT_LOOP_DELAY_MS: "0",
    BRAIN_MAX_HEAP_USED_PERCENT: "0",
    BRAIN_TRIM_INTERVAL_MS: "0",
  });
  t.notOk(app.hasDecorator("isUnderPressure"), "under-pressure is not registered");
  busy(300);
  await new Promise((r) => setTimeout(r, 150));
  const res = await app.inject({
    method: "POST",
    url: "/v1/events",
    headers: auth(PUBLISH_TOKEN),
    payload: envelope(),
  });
  t.equal(res.statusCode, 202);
});
