import t from "tap";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { fetch } from "undici";
import { buildApp } from "./helpers/app.js";
import { PUBLISH_TOKEN } from "./helpers/env.js";
import { envelope } from "./helpers/http.js";

const MIB = 1024 * 1024;

/** What a raw connection received until it closed (or `ms` passed), and whether it closed. */
async function collect(socket: Socket, ms: number): Promise<{ text: string; closed: boolean; error?: string }> {
  let text = "";
  let error: string | undefined;
  socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
  socket.on("error", (e: NodeJS.ErrnoException) => (error = e.code));
  const closed = await Promise.race([
    once(socket, "close").then(() => true),
    new Promise<false>((r) => setTimeout(() => r(false), ms)),
  ]);
  return { text, closed, error };
}

/** The JSON body of the first HTTP answer in `text`. */
const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4, text.lastIndexOf("}") + 1));

const head = (length: number | "chunked", extra = "") =>
  `POST /v1/events HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${PUBLISH_TOKEN}\r\n` +
  `Content-Type: application/json\r\n` +
  (length === "chunked" ? "Transfer-Encoding: chunked\r\n" : `Content-Length: ${length}\r\n`) +
  `${extra}\r\n`;

t.test("timeouts: a stalled upload or stalled headers lose their socket", async (t) => {
  const { app } = await buildApp(t, { BRAIN_REQUEST_TIMEOUT_MS: "500", BRAIN_ROLE: "api" });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const port = (app.server.address() as { port: number }).port;

  t.test("headers and part of a body, then nothing: 408 in the shared shape, then closed", async (t) => {
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    const started = Date.now();
    socket.write(`${head(1000)}{"type":"mission.created",`);
    const { text, closed } = await collect(socket, 5000);
    const elapsed = Date.now() - started;
    t.ok(closed, `closed after ${elapsed} ms`);
    t.ok(elapsed >= 400 && elapsed < 3000, `cut after the 500 ms timeout (${elapsed} ms)`);
    t.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    t.same(bodyOf(text), {
      statusCode: 408,
      code: "REQUEST_TIMEOUT",
      error: "Request Timeout",
      message: "the request was not received in time (BRAIN_REQUEST_TIMEOUT_MS)",
    });
  });

  t.test("half the headers, then nothing: closed as well", async (t) => {
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    socket.write("POST /v1/events HTTP/1.1\r\nHost: gateway\r\n");
    const { text, closed } = await collect(socket, 5000);
    t.ok(closed);
    t.match(text, /^HTTP\/1\.1 408 /);
  });

  t.test("a request that keeps its pace is served", async (t) => {
    const res = await fetch(`http://127.0.0.1:${port}/health/live`);
    t.equal(res.status, 200);
  });
});

t.test("the server's timeouts come from the configuration", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  t.equal(app.server.requestTimeout, 30_000);
  t.equal(app.server.headersTimeout, 10_000);
  t.equal(app.server.keepAliveTimeout, 72_000, "above the 60 s idle timeout of common load balancers");
  const custom = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_KEEP_ALIVE_TIMEOUT_MS: "90000" });
  t.equal(custom.app.server.keepAliveTimeout, 90_000);
});

t.test("an oversized upload gets its 413, whichever way it is sent", async (t) => {
  const { app, config } = await buildApp(t, { BRAIN_ROLE: "api" });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const port = (app.server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}/v1/events`;
  const tooLarge = {
    statusCode: 413,
    code: "BODY_TOO_LARGE",
    error: "Payload Too Large",
    message: `the request body is larger than ${config.maxBodyBytes} bytes`,
  };

  t.test("a client that sends the whole 4 MiB body before it reads the answer reads the 413", async (t) => {
    // Like urllib or http.client: write everything, then read. Closing the socket while bytes it did
    // not read are still arriving makes the kernel reset the connection, and such a client loses the answer.
    for (let i = 0; i < 10; i++) {
      const socket = connect(port, "127.0.0.1");
      await once(socket, "connect");
      socket.pause();
      const received = collect(socket, 10_000);
      socket.write(head(4 * MIB));
      for (let sent = 0; sent < 4 * MIB; sent += 64 * 1024) {
        if (!socket.write(Buffer.alloc(64 * 1024, 0x20))) await once(socket, "drain");
      }
      socket.resume();
      setTimeout(() => socket.end(), 200);
      const { text, error } = await received;
      t.match(text, /^HTTP\/1\.1 413 Payload Too Large\r\n/, `try ${i + 1} (${error ?? "no error"})`);
      if (text.startsWith("HTTP/1.1 413")) t.same(bodyOf(text), tooLarge);
    }
  });

  t.test("undici fetch uploading 4 MiB reads the 413 body, 20 times out of 20", async (t) => {
    const big = Buffer.alloc(4 * MIB, 0x20);
    for (let i = 0; i < 20; i++) {
      const res = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${PUBLISH_TOKEN}`, "content-type": "application/json" },
        body: big,
      });
      t.equal(res.status, 413, `try ${i + 1}`);
      t.same(await res.json(), tooLarge);
    }
  });

  t.test("a chunked upload (no Content-Length) is read up to the limit, answered, drained", async (t) => {
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    socket.pause();
    const received = collect(socket, 10_000);
    socket.write(head("chunked"));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    for (let sent = 0; sent < 4 * MIB; sent += chunk.length) {
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      if (!socket.write("\r\n")) await once(socket, "drain");
    }
    socket.write("0\r\n\r\n");
    socket.resume();
    setTimeout(() => socket.end(), 200);
    const { text } = await received;
    t.match(text, /^HTTP\/1\.1 413 /);
    t.same(bodyOf(text), tooLarge);
  });

  t.test("after the drain the connection serves the next request", async (t) => {
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    const received = collect(socket, 3000);
    socket.write(head(2 * MIB));
    socket.write(Buffer.alloc(2 * MIB, 0x20));
    const body = JSON.stringify(envelope());
    socket.write(`${head(Buffer.byteLength(body))}${body}`);
    const { text } = await received;
    socket.destroy();
    t.match(text, /^HTTP\/1\.1 413 [^]*HTTP\/1\.1 202 Accepted\r\n/, "413, then 202 on the same socket");
  });

  t.test("Expect: 100-continue with a declared body over the limit: 413 before any body is sent", async (t) => {
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    const received = collect(socket, 3000);
    socket.write(head(4 * MIB, "Expect: 100-continue\r\n"));
    const { text, closed } = await received;
    t.notMatch(text, /100 Continue/, "no 100 Continue");
    t.match(text, /^HTTP\/1\.1 413 /);
    t.same(bodyOf(text), tooLarge);
    t.ok(closed, "and the connection closes: the body will not come");
  });

  t.test("Expect: 100-continue within the limit is continued as usual", async (t) => {
    const body = JSON.stringify(envelope());
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString()));
    socket.write(head(Buffer.byteLength(body), "Expect: 100-continue\r\n"));
    while (!text.includes("100 Continue")) await once(socket, "data");
    socket.write(body);
    while (!text.includes("202 Accepted")) await once(socket, "data");
    socket.destroy();
    t.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 202 Accepted\r\n/);
  });

  t.test("an upload refused before its body was read (401) is drained too", async (t) => {
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: "Bearer not-a-token-0000000000", "content-type": "application/json" },
      body: Buffer.alloc(4 * MIB, 0x20),
    });
    t.equal(res.status, 401);
    t.equal(((await res.json()) as { code: string }).code, "UNAUTHORIZED");
  });
});
