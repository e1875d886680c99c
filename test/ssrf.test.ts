import { hostname } from "node:os";
import { createServer } from "node:http";
import { once } from "node:events";
import t, { type Test } from "tap";
import { Agent, request } from "undici";
import { assertUrlAllowed, createSsrfConnector, createSsrfLookup, isBlockedAddress } from "../src/delivery/ssrf.js";

const rejects = (t: Test, url: string, pattern: RegExp) =>
  t.rejects(assertUrlAllowed(url, false), { code: "URL_NOT_ALLOWED", statusCode: 400, message: pattern }, url);

t.test("private, loopback, link-local, reserved and multicast addresses are blocked", async (t) => {
  const blocked = [
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.255.0.9",
    "169.254.169.254",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "192.0.0.8",
    "198.18.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%eth0",
    "febf::1",
    "ff02::1",
    "ff05::2",
    "[::1]",
  ];
  for (const ip of blocked) t.equal(isBlockedAddress(ip), true, `${ip} is blocked`);
});

t.test("IPv4 addresses hidden in IPv6 forms are judged by the IPv4 address", async (t) => {
  const blocked = [
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::FFFF:10.0.0.1",
    "::ffff:a9fe:a9fe",
    "0:0:0:0:0:ffff:192.168.0.1",
    "::127.0.0.1",
    "::ffff:0:127.0.0.1",
    "64:ff9b::127.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::c000:208",
    "::ffff:100.64.0.1",
    "::ffff:192.88.99.1",
  ];
  for (const ip of blocked) t.equal(isBlockedAddress(ip), true, `${ip} is blocked`);
  for (const ip of ["::ffff:8.8.8.8", "::ffff:808:808", "64:ff9b::808:808", "64:ff9b::1.1.1.1"]) {
    t.equal(isBlockedAddress(ip), false, `${ip} embeds a public address`);
  }
});

t.test("public addresses are allowed, including those next to blocked ranges", async (t) => {
  const allowed = [
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "169.253.0.1",
    "11.0.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00::1",
  ];
  for (const ip of allowed) t.equal(isBlockedAddress(ip), false, `${ip} is allowed`);
});

t.test("something that is not an IP address is treated as blocked", async (t) => {
  t.equal(isBlockedAddress("example.com"), true);
  t.equal(isBlockedAddress("1.2.3"), true);
});

t.test("a URL with a blocked literal address, localhost or a name resolving to loopback is refused", async (t) => {
  await rejects(t, "http://127.0.0.1:8080/hook", /127\.0\.0\.1.*private or reserved.*BRAIN_WEBHOOK_ALLOW_PRIVATE/);
  await rejects(t, "http://[::1]/hook", /::1/);
  await rejects(t, "http://[::ffff:127.0.0.1]/hook", /private or reserved/);
  await rejects(t, "http://2130706433/", /127\.0\.0\.1/); // WHATWG URL normalizes the integer form
  await rejects(t, "http://0x7f.1/", /127\.0\.0\.1/);
  await rejects(t, "http://169.254.169.254/latest/meta-data/", /169\.254\.169\.254/);
  await rejects(t, "http://localhost:3000/", /loopback/);
  await rejects(t, "http://LOCALHOST./", /loopback/);
  await rejects(t, "http://api.localhost/", /loopback/);
  await rejects(t, `http://${hostname()}:9/hook`, /resolves to 127\./);
});

t.test("only absolute http(s) URLs without credentials are accepted", async (t) => {
  await rejects(t, "ftp://example.com/", /http or https/);
  await rejects(t, "file:///etc/passwd", /http or https/);
  await rejects(t, "not a url", /not an absolute URL/);
  await rejects(t, "https://user:pw@example.com/", /credentials/);
});

t.test(
  "public literals are accepted, and a name that does not resolve is accepted (the connect-time guard still applies)",
  async (t) => {
    await t.resolves(assertUrlAllowed("https://8.8.8.8/hook", false));
    await t.resolves(assertUrlAllowed("https://[2606:4700:4700::1111]/hook", false));
    await t.resolves(assertUrlAllowed("https://no-such-host.invalid/hook", false));
  },
);

t.test("with allowPrivate every http(s) URL is accepted, but other schemes still are not", async (t) => {
  await t.resolves(assertUrlAllowed("http://127.0.0.1:8080/hook", true));
  await t.resolves(assertUrlAllowed("http://localhost/", true));
  await t.resolves(assertUrlAllowed(`http://${hostname()}/`, true));
  await t.rejects(assertUrlAllowed("gopher://127.0.0.1/", true), { code: "URL_NOT_ALLOWED" });
});

type LookupResult = { err: (Error & { code?: string }) | null; address: unknown; family?: number };
function lookup(allowPrivate: boolean, host: string, all: boolean): Promise<LookupResult> {
  return new Promise((resolve) =>
    createSsrfLookup(allowPrivate)(host, { all }, (err, address, family) => resolve({ err, address, family })),
  );
}

t.test("the connect-time lookup fails with SSRF_BLOCKED for a name resolving to a blocked address", async (t) => {
  for (const host of [hostname(), "localhost", "foo.localhost"]) {
    for (const all of [true, false]) {
      const r = await lookup(false, host, all);
      t.equal(r.err?.code, "SSRF_BLOCKED", `${host} all=${all}`);
      t.match(r.err?.message, /SSRF guard/);
    }
  }
});

t.test("the connect-time lookup answers in both callback shapes when allowed", async (t) => {
  const single = await lookup(true, hostname(), false);
  t.equal(single.err, null);
  t.match(single.address, /^127\./);
  t.equal(single.family, 4);
  const all = await lookup(true, hostname(), true);
  t.equal(all.err, null);
  t.match(all.address, [{ address: /^127\./, family: 4 }]);
  const missing = await lookup(false, "no-such-host.invalid", false);
  t.match(missing.err?.code, /ENOTFOUND|EAI_AGAIN/, "a DNS failure stays a DNS failure (transient), not SSRF_BLOCKED");
});

t.test("an undici agent using the lookup never connects to a name resolving to loopback", async (t) => {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.end("ok");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const guarded = new Agent({ connect: { lookup: createSsrfLookup(false) } });
  const open = new Agent({ connect: { lookup: createSsrfLookup(true) } });
  t.teardown(() => Promise.all([guarded.close(), open.close()]));

  await t.rejects(request(`http://${hostname()}:${port}/`, { dispatcher: guarded }), { code: "SSRF_BLOCKED" });
  t.equal(hits, 0, "no request reached the server");
  const res = await request(`http://${hostname()}:${port}/`, { dispatcher: open });
  t.equal(await res.body.text(), "ok", "allowed when private addresses are allowed");
  t.equal(hits, 1);
});

t.test("an undici agent with the SSRF connector refuses blocked literal addresses and names alike", async (t) => {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.end("ok");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const guarded = new Agent({ connect: createSsrfConnector(false) });
  const open = new Agent({ connect: createSsrfConnector(true) });
  t.teardown(() => Promise.all([guarded.close(), open.close()]));

  for (const host of ["127.0.0.1", "[::ffff:127.0.0.1]", hostname(), "localhost"]) {
    await t.rejects(request(`http://${host}:${port}/`, { dispatcher: guarded }), { code: "SSRF_BLOCKED" }, host);
  }
  t.equal(hits, 0, "no request reached the server");
  for (const host of ["127.0.0.1", hostname()]) {
    t.equal(
      await (await request(`http://${host}:${port}/`, { dispatcher: open })).body.text(),
      "ok",
      `${host} allowed when private addresses are`,
    );
  }
  t.equal(hits, 2);
});
