import t, { type Test } from "tap";
import { testEnv } from "./helpers/env.js";
import { spawnGateway } from "./helpers/processes.js";
import { call, deliverMarker, publishMany, tally } from "./helpers/gateway.js";
import { startReceiver, type Receiver } from "./helpers/receiver.js";

const EVENTS = 10_000;

/** Every delivered webhook-id once, and exactly the published ids. */
function assertExactlyOnce(t: Test, name: string, receiver: Receiver, published: Set<string>) {
  const counts = tally(receiver.requests.map((r) => String(r.headers["webhook-id"])));
  const duplicates = [...counts].filter(([, n]) => n > 1);
  t.equal(duplicates.length, 0, `${name}: no duplicates`);
  t.equal(counts.size, published.size, `${name}: no loss`);
  t.ok(
    [...counts.keys()].every((id) => published.has(id)),
    `${name}: only published entries`,
  );
}

t.test(
  "three processes (api, dispatcher, all) on one Redis and Postgres " +
    "deliver 10,000 events to two subscribers exactly once",
  async (t) => {
    // LOG_LEVEL stays info: spawnGateway waits for the "Server listening" line.
    const env = await testEnv(t, { BRAIN_WEBHOOK_ALLOW_PRIVATE: "true" });
    const [api, dispatcher, all] = await Promise.all([
      spawnGateway(t, { ...env, BRAIN_ROLE: "api" }),
      spawnGateway(t, { ...env, BRAIN_ROLE: "dispatcher" }),
      spawnGateway(t, { ...env, BRAIN_ROLE: "all" }),
    ]);
    for (const p of [api, dispatcher, all]) {
      const ready = await fetch(`${p.url}/health/ready`).then(
        (r) => r.status,
        (err: Error) => err.message,
      );
      if (!t.equal(ready, 200, "process is up and ready")) t.comment(p.stderr());
    }

    const receivers = [await startReceiver(t), await startReceiver(t)];
    for (const [i, r] of receivers.entries()) {
      const res = await call(api.url, "POST", "/v1/subscribers", {
        name: `scale-${i}`,
        url: r.url,
        event_types: ["*"],
      });
      t.equal(res.status, 201, `subscriber ${i} created`);
    }

    const started = Date.now();
    const published = new Set(await publishMany(api.url, EVENTS));
    t.equal(published.size, EVENTS, "every event got its own stream id");
    await Promise.all(receivers.map((r) => r.waitFor(EVENTS, 90_000)));
    t.comment(`${2 * EVENTS} deliveries in ${Date.now() - started} ms`);
    // Anything still coming would be a duplicate: it arrives before a marker published now settles.
    published.add(await deliverMarker(api.url, { "scale-0": receivers[0]!, "scale-1": receivers[1]! }));
    receivers.forEach((r, i) => assertExactlyOnce(t, `scale-${i}`, r, published));
  },
);
