/**
 * The outgoing HTTP client on its own, against real local servers: how it reads (or refuses to
 * read) response bodies, and that its timeout bounds the whole attempt.
 */
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type RequestListener } from "node:http";
import t from "tap";
import { WebhookClient, type WebhookRequest } from "../src/delivery/webhook-client.js";
import { ROOT } from "./helpers/env.js";
import { startReceiver } from "./helpers/receiver.js";

async function server(t: { teardown(fn: () => unknown): void }, handler: RequestListener): Promise<string> {
  const srv = createServer(handler);
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  t.teardown(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return `http://127.0.0.1:${(srv.address() as { port: number }).port}/hook`;
}

function request(url: string, timeoutMs = 2000): WebhookRequest {
  return {
    url,
    subscriber: "client-test",
    streamMessageId: "1-0",
    eventId: "e-1",
    eventType: "a.b",
    body: '{"hello":"world"}',
    attempt: 1,
    signingSecrets: [`whsec_${Buffer.alloc(32, 1).toString("base64")}`],
    headers: {},
    timeoutMs,
  };
}

t.test("a 2xx with a body past 64 KB counts as delivered, and the client keeps working", async (t) => {
  let requests = 0;
  let bigSentInFull = false;
  const url = await server(t, (req, res) => {
    requests++;
    req.resume();
    if (req.url?.endsWith("/big")) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.once("finish", () => (bigSentInFull = true));
      // 64 MB in chunks (more than loopback buffers hold): the client stops reading after 64 KB.
      let sent = 0;
      const more = () => {
        while (sent < 64 * 1024 * 1024 && !res.destroyed) {
          sent += 16 * 1024;
          if (!res.write(Buffer.alloc(16 * 1024, 120))) return res.once("drain", more);
        }
        res.end();
      };
      more();
    } else {
      res.writeHead(204).end();
    }
  });
  const client = new WebhookClient(true);
  t.teardown(() => client.close());
  const big = await client.send(request(`${url}/big`));
  t.match(big, { kind: "success", statusCode: 200 });
  t.match(await client.send(request(url)), { kind: "success", statusCode: 204 }, "the next attempt is not affected");
  t.equal(requests, 2);
  t.notOk(bigSentInFull, "the long body was not read to its end");
});

t.test("the timeout bounds the whole attempt, and the request is abandoned", async (t) => {
  let closed = false;
  const url = await server(t, (req) => {
    req.resume();
    req.socket.once("close", () => (closed = true)); // never answered
  });
  const client = new WebhookClient(true);
  t.teardown(() => client.close());
  const started = Date.now();
  const result = await client.send(request(url, 300));
  const took = Date.now() - started;
  t.match(result, { kind: "transient", statusCode: null, error: "timed out after 300 ms" });
  t.ok(took >= 290 && took < 1500, `answered after ${took} ms`);
  await t.resolves(async () => {
    for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 20));
    if (!closed) throw new Error("the receiver's connection is still open");
  }, "the connection to the receiver is closed");
});

t.test("Retry-After on 429 and 503 is read; on other statuses it is ignored", async (t) => {
  const url = await server(t, (req, res) => {
    req.resume();
    const status = Number(req.url?.split("/").pop());
    res.writeHead(status, { "retry-after": "7" }).end();
  });
  const client = new WebhookClient(true);
  t.teardown(() => client.close());
  t.match(await client.send(request(`${url}/429`)), { kind: "transient", statusCode: 429, retryAfterMs: 7000 });
  t.match(await client.send(request(`${url}/503`)), { kind: "transient", statusCode: 503, retryAfterMs: 7000 });
  t.match(await client.send(request(`${url}/500`)), { kind: "transient", statusCode: 500, retryAfterMs: null });
});

t.test("every webhook names the gateway and its version in User-Agent", async (t) => {
  const { version } = JSON.parse(readFileSync(`${ROOT}/package.json`, "utf8")) as { version: string };
  const receiver = await startReceiver(t);
  const client = new WebhookClient(true);
  t.teardown(() => client.close());
  t.match(await client.send(request(receiver.url)), { kind: "success" });
  const [req] = await receiver.waitFor(1);
  t.equal(req!.headers["user-agent"], `brain-event-gateway/${version}`);
  t.match(version, /^\d+\.\d+\.\d+/, "a real version, read from package.json");
});

t.test("a subscriber's own User-Agent header replaces the gateway's instead of doubling it", async (t) => {
  let agents: string[] = [];
  const url = await server(t, (req, res) => {
    req.resume();
    agents = req.rawHeaders.filter((_, i, raw) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === "user-agent");
    res.writeHead(204).end();
  });
  const client = new WebhookClient(true);
  t.teardown(() => client.close());
  await client.send({ ...request(url), headers: { "User-Agent": "billing-relay/2" } });
  t.same(agents, ["billing-relay/2"]);
});
