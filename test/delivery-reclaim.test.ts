/**
 * Entries of a dead consumer: taken over with XAUTOCLAIM once idle for BRAIN_CLAIM_IDLE_MS,
 * delivered with x-brain-attempt continuing from the PEL's delivery count; entries trimmed
 * from the stream while pending become `trimmed` dead letters.
 */
import t from "tap";
import { ADMIN_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";
import { createSubscriber, deliverySetup, eventually, pendingCount, publish } from "./helpers/delivery.js";

t.test(
  "a dead consumer's entries are reclaimed with their attempt count; trimmed ones are dead-lettered",
  async (t) => {
    const { app, receiver, sql } = await deliverySetup(t);
    const { stream } = app.keys;
    const [trimmed, second, third] = [await publish(app), await publish(app), await publish(app)];
    // A consumer of a process that then died: it read all three and never ACKed.
    await app.redis.xgroup("CREATE", stream, "orphaned", "0");
    await app.redis.xreadgroup("GROUP", "orphaned", "ghost", "COUNT", 10, "STREAMS", stream, ">");
    await app.redis.xtrim(stream, "MINID", second);
    const secret = `whsec_${Buffer.alloc(32, 2).toString("base64")}`;
    await sql`insert into subscribers (name, url, event_types, secret)
              values ('orphaned', ${receiver.url}, ${["*"]}, ${secret})`;
    await app.redis.publish(app.keys.subscribersChanged, "orphaned");

    const started = Date.now();
    await receiver.waitFor(2, 10_000);
    t.ok(Date.now() - started >= 1000, "taken over only after the claim idle time");
    t.same(
      receiver.requests.map((r) => [r.headers["webhook-id"], r.headers["x-brain-attempt"]]),
      [
        [second, "2"],
        [third, "2"],
      ],
      "attempt 2: the dead consumer's delivery counted",
    );

    const [letter] = await eventually(
      async () => {
        const rows = await sql`select * from dead_letters`;
        return rows.length > 0 ? rows : null;
      },
      5000,
      "a dead letter for the trimmed entry",
    );
    t.match(letter, { stream_message_id: trimmed, reason: "trimmed", event: null });
    await eventually(async () => (await pendingCount(app, "orphaned")) === 0, 5000, "nothing pending");

    const res = await app.inject({
      method: "POST",
      url: `/v1/subscribers/orphaned/dead-letters/${trimmed}/redeliver`,
      headers: auth(ADMIN_TOKEN),
    });
    t.equal(res.statusCode, 409, "a trimmed event cannot be redelivered");
  },
);

t.test("consumers of exited processes are deleted once they own nothing and have been idle", async (t) => {
  const { app, receiver } = await deliverySetup(t);
  const { stream } = app.keys;
  await createSubscriber(app, { name: "tidy", url: receiver.url, start_from: "latest" });
  await app.redis.xgroup("CREATECONSUMER", stream, "tidy", "exited-process");
  const names = async () => ((await app.redis.xinfo("CONSUMERS", stream, "tidy")) as string[][]).map((row) => row[1]);
  t.ok((await names()).includes("exited-process"));
  await eventually(async () => !(await names()).includes("exited-process"), 12_000, "the idle consumer to be deleted");
  await publish(app);
  await receiver.waitFor(1);
  t.same(await names(), [app.dispatcher.consumer], "this process's own consumer stays");
});
