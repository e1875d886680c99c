/**
 * The SSRF guard is an allow-list: only globally routable unicast passes. Each case below is a
 * special-purpose range a deny-list of private ranges let through, or could have.
 */
import t, { type Test } from "tap";
import { assertUrlAllowed, createSsrfConnector, isBlockedAddress } from "../src/delivery/ssrf.js";

const rejects = (t: Test, url: string, pattern: RegExp) =>
  t.rejects(assertUrlAllowed(url, false), { code: "URL_NOT_ALLOWED", statusCode: 400, message: pattern }, url);

t.test("only globally routable unicast is allowed: special-purpose ranges are refused as a whole", async (t) => {
  const refused: [string, string][] = [
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo 2001::/32"],
    ["2001::1", "Teredo 2001::/32"],
    ["2002:808:808::1", "6to4 2002::/16, even around a public IPv4 address"],
    ["2002:c0a8:101::", "6to4 2002::/16"],
    ["192.88.99.1", "6to4 relay anycast"],
    ["192.0.0.8", "IETF protocol assignments"],
    ["192.0.0.170", "NAT64 discovery"],
    ["198.18.0.1", "benchmarking"],
    ["198.19.255.254", "benchmarking"],
    ["2001:2::1", "IPv6 benchmarking"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["192.0.2.1", "documentation TEST-NET-1"],
    ["198.51.100.7", "documentation TEST-NET-2"],
    ["203.0.113.9", "documentation TEST-NET-3"],
    ["2001:db8::1", "IPv6 documentation"],
    ["3fff::1", "IPv6 documentation (RFC 9637)"],
    ["192.31.196.1", "AS112"],
    ["192.52.193.1", "AMT"],
    ["2001:3::1", "AMT"],
    ["2001:20::1", "ORCHIDv2"],
    ["2001:1::1", "PCP anycast"],
    ["5f00::1", "SRv6 SIDs"],
    ["224.0.0.1", "multicast"],
    ["233.252.0.1", "multicast (MCAST-TEST-NET)"],
    ["ff0e::1", "IPv6 multicast"],
    ["::ffff:10.0.0.1", "IPv4-mapped private"],
    ["::ffff:192.168.1.1", "IPv4-mapped private"],
    ["::ffff:0:8.8.8.8", "IPv4-translated (SIIT) is not the NAT64 well-known prefix"],
    ["64:ff9b:1::808:808", "local-use NAT64 prefix"],
    ["::8.8.8.8", "deprecated IPv4-compatible form"],
    ["100::1", "discard-only"],
    ["fbff::1", "outside 2000::/3 (reserved by the IETF)"],
    ["4000::1", "outside 2000::/3 (reserved by the IETF)"],
    ["fec0::1", "deprecated site-local"],
  ];
  for (const [ip, why] of refused) t.equal(isBlockedAddress(ip), true, `${ip} is refused: ${why}`);
  for (const ip of ["8.8.8.8", "192.0.3.1", "198.20.0.1", "2606:4700:4700::1111", "2a00:1450:4001::1"]) {
    t.equal(isBlockedAddress(ip), false, `${ip} is public unicast`);
  }
});

t.test("the create-time check and the connect-time connector refuse the same special-purpose literals", async (t) => {
  const connector = createSsrfConnector(false);
  for (const host of ["[2001::1]", "[2002:808:808::1]", "192.88.99.1", "198.18.0.1", "[::ffff:10.0.0.1]"]) {
    await rejects(t, `http://${host}/hook`, /private or reserved/);
    const err = await new Promise<Error | null>((resolve) =>
      connector({ hostname: host, host, protocol: "http:", port: "80" } as never, (...args) => resolve(args[0])),
    );
    t.equal((err as { code?: string } | null)?.code, "SSRF_BLOCKED", `${host} refused at connect time`);
  }
});

t.test("BRAIN_WEBHOOK_ALLOW_PRIVATE=true still allows every address", async (t) => {
  for (const host of ["[2001::1]", "192.88.99.1", "198.18.0.1", "[::ffff:10.0.0.1]", "127.0.0.1"]) {
    await t.resolves(assertUrlAllowed(`http://${host}/hook`, true), host);
  }
});
