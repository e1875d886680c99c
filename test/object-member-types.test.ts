/**
 * Event types named like Object members (`valueOf`, `constructor`, …) are ordinary types: a
 * handler table must never find an inherited function under them.
 */
import t from "tap";
import { PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";
import { createSubscriber, deliverySetup, eventually, pendingCount, publish } from "./helpers/delivery.js";

const MEMBERS = ["valueOf", "constructor", "toString", "hasOwnProperty", "isPrototypeOf", "toLocaleString"];

t.test("Object-member types reach `*` and subscribers listing them, never others", async (t) => {
  const { app, receiver, sql } = await deliverySetup(t);
  const base = receiver.url;
  await createSubscriber(app, { name: "everything", url: `${base}/all` });
  await createSubscriber(app, { name: "orders", url: `${base}/orders`, event_types: ["orders.created"] });
  await createSubscriber(app, { name: "members", url: `${base}/members`, event_types: ["valueOf", "constructor"] });
  for (const type of MEMBERS) await publish(app, { type });
  await publish(app, { type: "orders.created" });
  await receiver.waitFor(MEMBERS.length + 1 + 1 + 2);
  const byPath = (path: string) =>
    receiver.requests
      .filter((r) => r.path === `/hook${path}`)
      .map((r) => r.headers["x-brain-event-type"])
      .sort();
  t.same(byPath("/all"), [...MEMBERS, "orders.created"].sort(), "`*` gets every type, once each");
  t.same(byPath("/orders"), ["orders.created"], "a subscriber of orders.created gets nothing else");
  t.same(byPath("/members"), ["constructor", "valueOf"], "listing a member type subscribes to it");
  await eventually(async () => {
    const [row] = await sql`select count(*)::int as n from processed_events where subscriber_name = 'everything'`;
    return row!.n === MEMBERS.length + 1;
  });
  const letters = await sql`select subscriber_name, stream_message_id from dead_letters`;
  t.same(letters, [], "nothing was dead-lettered");
});

t.test("a flood of `valueOf` events does not hold back another type's subscriber", async (t) => {
  // A failing entry would wait an hour for its retry: 1,000 of them would fill the retry backlog.
  const { app, receiver, sql } = await deliverySetup(t, { BRAIN_RETRY_SCHEDULE: "1h" });
  await createSubscriber(app, { name: "orders", url: receiver.url, event_types: ["orders.created"] });
  for (let i = 0; i < 2; i++) {
    const events = Array.from({ length: 500 }, () => envelope({ type: "valueOf" }));
    const res = await app.inject({
      method: "POST",
      url: "/v1/events/batch",
      headers: auth(PUBLISH_TOKEN),
      payload: { events },
    });
    t.equal(res.statusCode, 202);
  }
  const order = await publish(app, { type: "orders.created" });
  const [req] = await receiver.waitFor(1, 10_000);
  t.equal(req!.headers["webhook-id"], order, "the order is delivered while 1,000 valueOf events are skipped");
  t.equal(receiver.requests.length, 1);
  const [letters] = await sql`select count(*)::int as n from dead_letters`;
  t.equal(letters!.n, 0, "the skipped events were not dead-lettered");
  await eventually(async () => (await pendingCount(app, "orders")) === 0, 10_000, "nothing left pending");
});
