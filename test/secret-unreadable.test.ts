/**
 * A subscriber whose secret cannot be opened (here: another subscriber's sealed secret copied onto
 * its row, which the name bound into the ciphertext refuses) is paused alone, logged once, and
 * resumes when its secret opens again; every other subscriber keeps being delivered to.
 */
import { Writable } from "node:stream";
import postgres from "postgres";
import t from "tap";
import { Webhook } from "standardwebhooks";
import { build } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { loadSubscribers } from "../src/delivery/subscriber-config.js";
import { createSubscriber, eventually, FAST_ENV, publish } from "./helpers/delivery.js";
import { testEnv } from "./helpers/env.js";
import { startReceiver } from "./helpers/receiver.js";

const SECRET_KEY = "a-very-long-test-encryption-key-0123456789";
const PAUSED = "subscriber paused: its signing secret cannot be opened";

let logged = "";
const stream = new Writable({
  write(chunk: Buffer, _encoding, done) {
    logged += chunk.toString();
    done();
  },
});
const receiver = await startReceiver(t);
const env = await testEnv(t, { ...FAST_ENV, BRAIN_SECRET_KEY: SECRET_KEY });
const app = await build(loadConfig(env), { level: "info", stream });
t.teardown(() => app.close());
const sql = postgres(env["DATABASE_URL"]!, { max: 1, onnotice: () => {} });
t.teardown(() => sql.end({ timeout: 1 }));
const from = (name: string) => receiver.requests.filter((r) => r.headers["x-brain-subscriber"] === name);

t.test("a v2 secret copied onto another row does not open: only that subscriber pauses", async (t) => {
  await createSubscriber(app, { name: "good", url: receiver.url });
  const bad = await createSubscriber(app, { name: "bad", url: receiver.url });
  const [{ secret: own }] = (await sql`select secret from subscribers where name = 'bad'`) as unknown as [
    { secret: string },
  ];
  await sql`update subscribers set secret = (select secret from subscribers where name = 'good') where name = 'bad'`;

  const unreadable: { name: string; reason: string }[][] = [];
  const loaded = await loadSubscribers(app.db, SECRET_KEY, (u) => unreadable.push(u));
  t.same(
    loaded.map((s) => s.name),
    ["good"],
    "loading does not throw: the readable subscriber loads",
  );
  t.match(unreadable, [[{ name: "bad", reason: /sealed for another subscriber/ }]]);

  for (let i = 0; i < 3; i++) await app.dispatcher.reload();
  t.same(app.dispatcher.subscribers(), ["good"], "only the unreadable subscriber is paused");
  t.equal(logged.split(PAUSED).length - 1, 1, "logged once, not on every reload");
  t.notOk(logged.includes(bad.secret.slice(6)), "the log does not carry the secret");
  const paused = async () => (await app.metrics.subscribersPaused.get()).values[0]?.value;
  t.equal(await paused(), 1, "brain_subscribers_paused counts it");

  const ids = [await publish(app), await publish(app)];
  await receiver.waitFor(2, 10_000, (r) => r.headers["x-brain-subscriber"] === "good");
  t.same(
    from("good").map((r) => r.headers["webhook-id"]),
    ids,
    "the other subscriber is delivered to",
  );
  t.equal(from("bad").length, 0, "the paused subscriber got nothing");

  await sql`update subscribers set secret = ${own} where name = 'bad'`;
  await app.dispatcher.reload();
  t.match(logged, /signing secret opens again: delivery resumes/);
  t.equal(await paused(), 0, "and stops counting it once it resumes");
  const resumed = await receiver.waitFor(2, 10_000, (r) => r.headers["x-brain-subscriber"] === "bad");
  for (const req of resumed.filter((r) => ids.includes(String(r.headers["webhook-id"])))) {
    t.doesNotThrow(
      () =>
        new Webhook(bad.secret).verify(req.body, {
          "webhook-id": String(req.headers["webhook-id"]),
          "webhook-timestamp": String(req.headers["webhook-timestamp"]),
          "webhook-signature": String(req.headers["webhook-signature"]),
        }),
      "signed with its own secret once it opens again",
    );
  }
  await eventually(
    () => ids.every((id) => from("bad").some((r) => r.headers["webhook-id"] === id)),
    10_000,
    "the events that waited in the paused subscriber's group",
  );
});
