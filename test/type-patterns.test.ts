/** What a subscriber's event_types entry matches: exact types, prefix patterns and `*`, most specific first. */
import t from "tap";
import { TypeMatcher } from "../src/schemas/type-patterns.js";
import { createSubscriber, deliverySetup, eventually, pendingCount, publish } from "./helpers/delivery.js";

t.test("exact beats the longest prefix, which beats a shorter one, which beats *", async (t) => {
  const m = new TypeMatcher([
    ["*", "any"],
    ["mission.*", "mission"],
    ["mission.step.*", "step"],
    ["mission.created", "exact"],
    ["robot:*", "robot"],
  ]);
  t.equal(m.match("mission.created"), "exact");
  t.equal(m.match("mission.step.done"), "step");
  t.equal(m.match("mission.failed"), "mission");
  t.equal(m.match("robot:moved"), "robot");
  t.equal(m.match("mission"), "any", "a prefix pattern needs the separator");
  t.equal(m.match("missionary.x"), "any");
  t.equal(m.match("valueOf"), "any", "object members are types like any other");
  t.equal(new TypeMatcher([["mission.*", 1]]).match("__proto__"), undefined);
});

t.test("a webhook subscribed to mission.* gets the mission types and nothing else", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  await createSubscriber(app, { name: "missions", url: receiver.url, event_types: ["mission.*"] });
  const wanted = [await publish(app, { type: "mission.created" }), await publish(app, { type: "mission.step.done" })];
  await publish(app, { type: "missionary.arrived" });
  await publish(app, { type: "mission" });
  const marker = await publish(app, { type: "mission.completed" });
  await receiver.waitFor(1, 10_000, (r) => r.headers["webhook-id"] === marker);
  await eventually(async () => (await pendingCount(app, "missions")) === 0, 10_000, "every entry settled");
  t.same(receiver.requests.map((r) => r.headers["webhook-id"]).sort(), [...wanted, marker].sort());
});
