import t, { type Test } from "tap";
import { once } from "node:events";
import { connect } from "node:net";
import { STATUS_CODES } from "node:http";
import { errors } from "../src/errors.js";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN } from "./helpers/env.js";
import { auth, envelope } from "./helpers/http.js";

const CATALOGUE = new Set<string>(Object.values(errors).map((make) => new make().code));

/** Sends raw bytes and returns everything received until the server closes (or 3 s pass). */
async function raw(port: number, request: string): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  let text = "";
  socket.on("data", (d: Buffer) => (text += d.toString()));
  socket.on("error", () => {});
  socket.write(request);
  await Promise.race([once(socket, "close"), new Promise((r) => setTimeout(r, 3000))]);
  socket.destroy();
  return text;
}

const bodyOf = (text: string) => JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));

t.test("every error is in the shared shape, its code in the catalogue, its error the status text", async (t) => {
  const { app } = await buildApp(t, { BRAIN_ROLE: "api" });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const port = (app.server.address() as { port: number }).port;
  const seen: { statusCode: number; code: string; error: string; message: string }[] = [];
  const check = (t: Test, body: (typeof seen)[number], status: number, code: string) => {
    seen.push(body);
    t.match(body, { statusCode: status, code, error: STATUS_CODES[status], message: String });
  };

  t.test("a path parameter over 128 characters: 414 URI_TOO_LONG, not 'Bad Request'", async (t) => {
    const res = await app.inject({
      method: "GET",
      url: `/v1/subscribers/${"a".repeat(129)}/deliveries`,
      headers: auth(ADMIN_TOKEN),
    });
    t.equal(res.statusCode, 414);
    check(t, res.json(), 414, "URI_TOO_LONG");
  });

  t.test("a malformed percent-encoding in the path: 400 INVALID_REQUEST", async (t) => {
    const res = await app.inject({
      method: "GET",
      url: "/v1/subscribers/%E0%A4%A/deliveries",
      headers: auth(ADMIN_TOKEN),
    });
    t.equal(res.statusCode, 400);
    check(t, res.json(), 400, "INVALID_REQUEST");
  });

  t.test("401 carries WWW-Authenticate: Bearer, 403 the insufficient_scope error", async (t) => {
    const none = await app.inject({ method: "GET", url: "/v1/events" });
    t.equal(none.statusCode, 401);
    t.equal(none.headers["www-authenticate"], "Bearer");
    check(t, none.json(), 401, "UNAUTHORIZED");
    const scope = await app.inject({ method: "GET", url: "/v1/events", headers: auth(PUBLISH_TOKEN) });
    t.equal(scope.statusCode, 403);
    t.equal(scope.headers["www-authenticate"], 'Bearer error="insufficient_scope"');
    check(t, scope.json(), 403, "FORBIDDEN");
    const ok = await app.inject({ method: "GET", url: "/v1/events", headers: auth(ADMIN_TOKEN) });
    t.equal(ok.headers["www-authenticate"], undefined);
  });

  t.test("an unknown route: 404 NOT_FOUND", async (t) => {
    const res = await app.inject({ method: "GET", url: "/v2/nothing?x=1" });
    check(t, res.json(), 404, "NOT_FOUND");
  });

  t.test("a request Node cannot parse: 400 INVALID_REQUEST on the wire", async (t) => {
    const text = await raw(port, "NOT HTTP AT ALL\r\n\r\n");
    t.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    check(t, bodyOf(text), 400, "INVALID_REQUEST");
  });

  t.test("headers over Node's 16 KiB: 431 HEADERS_TOO_LARGE on the wire", async (t) => {
    const text = await raw(port, `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    t.match(text, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    check(t, bodyOf(text), 431, "HEADERS_TOO_LARGE");
  });

  t.test("a request arriving while the gateway shuts down: 503 SHUTTING_DOWN", async (t) => {
    const { app: closing } = await buildApp(t, { BRAIN_ROLE: "api" });
    await closing.listen({ port: 0, host: "127.0.0.1" });
    const socket = connect((closing.server.address() as { port: number }).port, "127.0.0.1");
    await once(socket, "connect");
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString()));
    const body = JSON.stringify(envelope());
    const head = (n: number) =>
      `POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${PUBLISH_TOKEN}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${n}\r\n\r\n`;
    // A request in progress keeps the connection busy, so closing waits for it.
    socket.write(head(Buffer.byteLength(body)));
    await new Promise((r) => setTimeout(r, 100));
    const closed = closing.close();
    socket.write(body);
    while (!text.includes("202 Accepted")) await once(socket, "data");
    socket.write(`${head(Buffer.byteLength(body))}${body}`);
    while (!text.includes("503 Service Unavailable")) await once(socket, "data");
    await closed;
    const answer = bodyOf(text.slice(text.indexOf("HTTP/1.1 503")));
    check(t, answer, 503, "SHUTTING_DOWN");
    t.match(text.slice(text.indexOf("HTTP/1.1 503")), /retry-after: 5/i);
  });

  t.test("every code answered is in the catalogue", async (t) => {
    for (const body of seen) t.ok(CATALOGUE.has(body.code), body.code);
  });
});
