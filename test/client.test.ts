/**
 * BrainEventsClient against a real gateway (dist/server.js, own stream and database): events it
 * publishes are in the stream, a retry after a dropped connection or a 503 is answered as a replay
 * and appended once, Retry-After is honoured, and the gateway's 4xx answers surface as
 * BrainApiError without a retry.
 */
import t from "tap";
import { createServer } from "node:http";
import { BrainApiError, BrainEventsClient, type BrainEventsClientOptions } from "../src/client/index.js";
import { createEvent, missionEvents, type BrainEvent } from "../src/catalog/index.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN, testEnv } from "./helpers/env.js";
import { call } from "./helpers/gateway.js";
import { envelope } from "./helpers/http.js";
import { freePort, spawnGateway } from "./helpers/processes.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const from = { source: "mission_queue", producer: "mission_queue_manager", source_module: "missions" };
const meta = { schema_version: 1, producer: "mission_queue_manager", source_module: "missions" };
const fast = { baseDelayMs: 10, maxDelayMs: 50 };

t.test("BrainEventsClient against the gateway", async (t) => {
  const gw = await spawnGateway(t, await testEnv(t));
  const typed = (over: Partial<BrainEventsClientOptions> = {}) =>
    new BrainEventsClient<typeof missionEvents>({ baseUrl: gw.url, token: PUBLISH_TOKEN, retry: fast, ...over });
  /** The stream's entries, read through the admin API. */
  const stored = async (): Promise<{ stream_message_id: string; event: BrainEvent }[]> => {
    const res = await call(gw.url, "GET", "/v1/events?limit=1000", undefined, ADMIN_TOKEN);
    t.equal(res.status, 200);
    return res.body.events;
  };
  const copies = async (id: string) => (await stored()).filter((e) => e.event.id === id);
  /** fetch that records each request body, then hands the request to `send`. */
  const recording = (send: (n: number, input: string, init: RequestInit) => Promise<Response> = fwd) => {
    const bodies: string[] = [];
    const fetch = (input: string | URL | Request, init: RequestInit = {}) => {
      bodies.push(init.body as string);
      return send(bodies.length, String(input), init);
    };
    return { bodies, fetch: fetch as typeof globalThis.fetch };
  };
  const fwd = (_n: number, input: string, init: RequestInit) => globalThis.fetch(input, init);

  t.test("publish and publishBatch: the events are in the stream as sent, ids assigned by the client", async (t) => {
    const client = typed();
    const created = createEvent(missionEvents, "mission.created", { mission_id: "m-e2e", priority: "high" }, from);
    const one = await client.publish(created);
    t.same(one, { id: created.id, stream_message_id: one.stream_message_id, replayed: false });
    const sent = recording();
    const plain = new BrainEventsClient({ baseUrl: `${gw.url}/`, token: PUBLISH_TOKEN, fetch: sent.fetch });
    const bare = await plain.publish(envelope({ type: "audit.note" }) as BrainEvent);
    t.match(JSON.parse(sent.bodies[0]!).id, UUID_V7, "the client assigned a UUIDv7");
    t.equal(bare.id, JSON.parse(sent.bodies[0]!).id, "and the gateway kept it");
    const started = createEvent(missionEvents, "mission.started", { mission_id: "m-e2e", attempt: 1 }, from);
    const failed = { type: "mission.failed" as const, source: "q", payload: { mission_id: "m-e2e", error: "boom" } };
    const cancelled = createEvent(missionEvents, "mission.cancelled", { mission_id: "m-e2e", reason: "gone" }, from);
    const batch = [started, { ...failed, meta: created.meta }, cancelled];
    const results = await client.publishBatch(batch);
    t.equal(results.length, 3);
    t.same([results[0]!.id, results[2]!.id], [started.id, cancelled.id], "ids given are kept");
    t.match(results[1]!.id, UUID_V7);
    t.ok(results.every((r) => r.replayed === false));

    const entries = await stored();
    const byStreamId = new Map(entries.map((e) => [e.stream_message_id, e.event]));
    t.same(byStreamId.get(one.stream_message_id), { ...created, target: null }, "stored as sent");
    t.equal(byStreamId.get(bare.stream_message_id)?.id, bare.id);
    t.same(
      results.map((r) => byStreamId.get(r.stream_message_id)?.type),
      ["mission.started", "mission.failed", "mission.cancelled"],
      "the batch in order",
    );
    t.same(byStreamId.get(results[1]!.stream_message_id)?.payload, { mission_id: "m-e2e", error: "boom" });

    const again = await client.publish(created);
    t.same(again, { ...one, replayed: true }, "publishing the same event again is a replay");
    const batchAgain = await client.publishBatch([started]);
    t.same(batchAgain, [{ ...results[0]!, replayed: true }]);
    t.equal((await stored()).length, entries.length, "and appends nothing");
  });

  t.test("a connection dropped after the append: the retry is a replay, the event is stored once", async (t) => {
    const port = await freePort();
    let requests = 0;
    const proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const upstream = await fetch(`${gw.url}${req.url}`, {
        method: "POST",
        headers: { authorization: req.headers.authorization!, "content-type": "application/json" },
        body: Buffer.concat(chunks),
      });
      const text = await upstream.text();
      // The gateway has answered (and appended); the client never hears of it.
      if (++requests % 2 === 1) return req.socket.destroy();
      const replayed = upstream.headers.get("idempotent-replayed");
      res.writeHead(upstream.status, {
        "content-type": "application/json",
        ...(replayed && { "idempotent-replayed": replayed }),
      });
      res.end(text);
    });
    proxy.listen(port, "127.0.0.1");
    t.teardown(() => {
      proxy.closeAllConnections();
      proxy.close();
    });
    const recorded = recording();
    const bodies = recorded.bodies;
    const client = typed({ baseUrl: `http://127.0.0.1:${port}`, fetch: recorded.fetch });

    // No id given: the one the client assigns is what makes its retry recognisable.
    const completed = { type: "mission.completed" as const, source: "q", payload: { mission_id: "m-drop" }, meta };
    const result = await client.publish(completed);
    t.equal(requests, 2, "the first answer was lost, the second arrived");
    t.equal(bodies.length, 2);
    t.equal(bodies[0], bodies[1], "the retry sent the same bytes");
    t.match(JSON.parse(bodies[0]!).id, UUID_V7, "carrying the id the client assigned");
    t.equal(result.replayed, true, "the gateway recognised the retry");
    const mission = (e: { event: BrainEvent }) => (e.event.payload as { mission_id?: string }).mission_id;
    t.equal((await stored()).filter((e) => mission(e) === "m-drop").length, 1, "the stream holds the event once");

    const [a, b] = await client.publishBatch([
      { type: "mission.created", source: "q", payload: { mission_id: "m-drop-2" }, meta },
      createEvent(missionEvents, "mission.started", { mission_id: "m-drop-2" }, from),
    ]);
    t.equal(requests, 4);
    t.same([a!.replayed, b!.replayed], [true, true]);
    t.equal((await stored()).filter((e) => mission(e) === "m-drop-2").length, 2, "the batch is stored once");
  });

  t.test("a 503 with Retry-After after the append: the retry waits as told and does not duplicate", async (t) => {
    const overloaded = { statusCode: 503, code: "OVERLOADED", error: "Service Unavailable", message: "later" };
    const { bodies, fetch } = recording(async (n, input, init) => {
      const real = await globalThis.fetch(input, init);
      if (n > 1) return real;
      await real.text(); // appended: now pretend the answer was a 503
      return new Response(JSON.stringify(overloaded), { status: 503, headers: { "retry-after": "1" } });
    });
    const sentAt: number[] = [];
    const timed = ((input: string, init: RequestInit) => (sentAt.push(Date.now()), fetch(input, init))) as typeof fetch;
    const client = typed({ fetch: timed });
    const result = await client.publish(createEvent(missionEvents, "mission.completed", { mission_id: "m-503" }, from));
    t.equal(bodies.length, 2);
    t.ok(sentAt[1]! - sentAt[0]! >= 1000, `retried after ${sentAt[1]! - sentAt[0]!} ms (Retry-After: 1)`);
    t.equal(result.replayed, true);
    t.equal((await copies(result.id)).length, 1, "the stream holds the event once");
  });

  t.test("the gateway's 4xx surface as BrainApiError with code and details, each sent once", async (t) => {
    const before = (await stored()).length;
    const { bodies, fetch } = recording();
    const client = typed({ fetch });
    const noProducer = {
      type: "mission.created",
      source: "q",
      payload: { mission_id: "m" },
      meta: { schema_version: 1 },
    };
    const error = await client.publish(noProducer as never).catch((e: unknown) => e);
    t.type(error, BrainApiError);
    t.match(error, { statusCode: 400, code: "INVALID_ENVELOPE", message: String });
    t.ok(
      (error as BrainApiError).details.some((d) => d.path === "/meta/producer"),
      "details name the problem",
    );
    t.equal(bodies.length, 1, "a 400 is not retried");

    const good = createEvent(missionEvents, "mission.started", { mission_id: "m" }, from);
    const batchError = await client.publishBatch([good, noProducer as never]).catch((e: unknown) => e);
    t.match(batchError, { statusCode: 400, code: "INVALID_ENVELOPE" });
    t.ok((batchError as BrainApiError).details.some((d) => d.path === "/events/1/meta/producer"));
    t.equal(bodies.length, 2);

    const version = createEvent(missionEvents, "mission.started", { mission_id: "m" }, from);
    await t.rejects(client.publish({ ...version, meta: { ...version.meta, schema_version: 2 } }), {
      statusCode: 400,
      code: "UNSUPPORTED_SCHEMA_VERSION",
      details: [{ path: "/meta/schema_version" }],
    });
    await client.publish(createEvent(missionEvents, "mission.started", { mission_id: "m1" }, from), {
      idempotencyKey: "k-1",
    });
    await t.rejects(
      client.publish(createEvent(missionEvents, "mission.started", { mission_id: "m2" }, from), {
        idempotencyKey: "k-1",
      }),
      { statusCode: 422, code: "IDEMPOTENCY_KEY_REUSED" },
    );
    t.equal(bodies.length, 5, "neither was retried");
    const wrongToken = typed({ token: "not-a-token-0123456789", fetch });
    await t.rejects(wrongToken.publish(good), { statusCode: 401, code: "UNAUTHORIZED" });
    await t.rejects(typed({ token: ADMIN_TOKEN, fetch }).publish(good), { statusCode: 403, code: "FORBIDDEN" });
    t.equal(bodies.length, 7, "nor were 401 and 403");
    t.equal((await stored()).length, before + 1, "only the keyed event was appended");
  });
});
