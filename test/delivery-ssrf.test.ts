/**
 * The SSRF guard at connect time: a subscriber whose host name resolves to a private address
 * (here the machine's own name, resolving to 127.0.0.1) is refused when the connection is made,
 * even though the row got past the create-time check (DNS rebinding), and dead-lettered.
 */
import t, { type Test } from "tap";
import { hostname } from "node:os";
import { lookup } from "node:dns/promises";
import { deliverySetup, eventually, publish } from "./helpers/delivery.js";

/** Delivers one event to `host` with the guard on; asserts it is dead-lettered before any request. */
async function assertBlocked(t: Test, host: string) {
  const { app, receiver, sql } = await deliverySetup(t, { BRAIN_WEBHOOK_ALLOW_PRIVATE: "false" });
  const url = `http://${host}:${receiver.port}/hook`;
  // Inserted directly: the API's create-time check would refuse this URL.
  const secret = `whsec_${Buffer.alloc(32, 1).toString("base64")}`;
  await sql`insert into subscribers (name, url, event_types, secret)
            values ('rebound', ${url}, ${["*"]}, ${secret})`;
  await app.redis.xgroup("CREATE", app.keys.stream, "rebound", "0", "MKSTREAM");
  await app.redis.publish(app.keys.subscribersChanged, "rebound");
  const id = await publish(app);
  const [letter] = await eventually(
    async () => {
      const rows = await sql`select * from dead_letters`;
      return rows.length > 0 ? rows : null;
    },
    10_000,
    "a dead letter",
  );
  t.equal(letter!.stream_message_id, id);
  t.equal(letter!.reason, "ssrf_blocked");
  t.equal(receiver.requests.length, 0, "no request reached the receiver");
  const [row] = await sql`select outcome from processed_events`;
  t.equal(row!.outcome, "dead_lettered");
}

t.test(
  "a URL resolving to a private address at connect time is dead-lettered ssrf_blocked without a request",
  async (t) => {
    const { address } = await lookup(hostname());
    t.comment(`${hostname()} resolves to ${address}`);
    await assertBlocked(t, hostname());
  },
);

t.test(
  "a stored IP-literal private URL is refused at connect time too (Node skips DNS lookup for literals)",
  async (t) => {
    await assertBlocked(t, "127.0.0.1");
  },
);
