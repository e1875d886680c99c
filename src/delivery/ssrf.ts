/**
 * The SSRF guard (docs/CONTRACT.md §4): webhook URLs must not reach loopback, private, link-local, metadata
 * or otherwise non-public addresses unless BRAIN_WEBHOOK_ALLOW_PRIVATE=true.
 *
 * It runs twice. At create/PATCH, `assertUrlAllowed` refuses a blocked literal address, the name
 * `localhost`, or a name that resolves to any blocked address. At connect time, `createSsrfLookup`
 * is the DNS lookup of the outgoing HTTP agent: the socket connects to the very addresses it
 * checked, so a name that re-resolves elsewhere later (DNS rebinding) is still caught.
 */
import { lookup as dnsLookup, promises as dns, type LookupAddress, type LookupOptions } from "node:dns";
import { isIP, isIPv4 } from "node:net";
import { buildConnector } from "undici";
import { errors } from "../errors.js";

/** [network, prefix length] over the 4-byte IPv4 form. Everything not globally reachable. */
const V4_BLOCKED: [number[], number][] = [
  [[0, 0, 0, 0], 8], // "this network"
  [[10, 0, 0, 0], 8], // private
  [[100, 64, 0, 0], 10], // carrier-grade NAT
  [[127, 0, 0, 0], 8], // loopback
  [[169, 254, 0, 0], 16], // link-local, cloud metadata (169.254.169.254)
  [[172, 16, 0, 0], 12], // private
  [[192, 0, 0, 0], 24], // IETF protocol assignments
  [[192, 0, 2, 0], 24], // documentation
  [[192, 168, 0, 0], 16], // private
  [[198, 18, 0, 0], 15], // benchmarking
  [[198, 51, 100, 0], 24], // documentation
  [[203, 0, 113, 0], 24], // documentation
  [[224, 0, 0, 0], 4], // multicast
  [[240, 0, 0, 0], 4], // reserved, incl. broadcast 255.255.255.255
];

/** [network, prefix length] over the 16-byte IPv6 form, for addresses without an embedded IPv4. */
const V6_BLOCKED: [number[], number][] = [
  [v6("::"), 128], // unspecified
  [v6("::1"), 128], // loopback
  [v6("100::"), 64], // discard-only
  [v6("2001:db8::"), 32], // documentation
  [v6("fc00::"), 7], // unique local
  [v6("fe80::"), 10], // link-local
  [v6("fec0::"), 10], // deprecated site-local, still routed internally by some networks
  [v6("ff00::"), 8], // multicast
  [v6("64:ff9b:1::"), 48], // local-use NAT64
];

/** IPv6 prefixes that carry an IPv4 address in their last 4 bytes (mapped, translated, compatible, NAT64). */
const V6_EMBEDDING: [number[], number][] = [
  [v6("::ffff:0:0"), 96], // IPv4-mapped ::ffff:a.b.c.d
  [v6("::ffff:0:0:0"), 96], // IPv4-translated (SIIT)
  [v6("64:ff9b::"), 96], // NAT64 well-known prefix
  [v6("::"), 96], // deprecated IPv4-compatible ::a.b.c.d
];

function inPrefix(bytes: number[], [net, bits]: [number[], number]): boolean {
  for (let i = 0; i < bits; i += 8) {
    const take = Math.min(8, bits - i);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((bytes[i / 8] ?? 0) & mask) !== ((net[i / 8] ?? 0) & mask)) return false;
  }
  return true;
}

function v4(ip: string): number[] {
  return ip.split(".").map(Number);
}

/** The 16 bytes of a valid IPv6 address (with `::` and a dotted IPv4 tail expanded). */
function v6(ip: string): number[] {
  let text = ip.replace(/%.*$/, "");
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = v4(tail[1]!) as [number, number, number, number];
    text = text.slice(0, tail.index) + ((a << 8) | b).toString(16) + ":" + ((c << 8) | d).toString(16);
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const hi = parse(head);
  const lo = rest === undefined ? [] : parse(rest);
  const groups = [...hi, ...new Array<number>(8 - hi.length - lo.length).fill(0), ...lo];
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/** True for an IP address (v4 or v6, any textual form) that webhooks must not reach. */
export function isBlockedAddress(ip: string): boolean {
  const bare = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  if (isIPv4(bare)) return V4_BLOCKED.some((p) => inPrefix(v4(bare), p));
  if (isIP(bare.replace(/%.*$/, "")) !== 6) return true; // not an address at all: refuse rather than guess
  const bytes = v6(bare);
  if (V6_BLOCKED.some((p) => inPrefix(bytes, p))) return true;
  if (V6_EMBEDDING.some((p) => inPrefix(bytes, p))) return V4_BLOCKED.some((p) => inPrefix(bytes.slice(12), p));
  // 6to4 (2002::/16) carries an IPv4 address in bytes 2..5; a relay would forward to it.
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return V4_BLOCKED.some((p) => inPrefix(bytes.slice(2, 6), p));
  return false;
}

/** `localhost` and its subdomains (RFC 6761) are loopback whatever DNS says. */
function isLocalhostName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost");
}

/** How long the create/PATCH check waits for DNS before accepting the name unchecked. */
const DNS_TIMEOUT_MS = 3000;
const ALLOW_HINT = "set BRAIN_WEBHOOK_ALLOW_PRIVATE=true to allow private addresses";

/**
 * Create/PATCH check of a webhook URL: http(s) only and, unless `allowPrivate`, no blocked
 * literal, no `localhost`, and no name resolving to any blocked address. A name that does not
 * resolve now (or within 3 s) is accepted: DNS may be down for a moment, and the connect-time
 * lookup still guards every delivery. Throws `URL_NOT_ALLOWED` (400).
 */
export async function assertUrlAllowed(raw: string, allowPrivate: boolean): Promise<void> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new errors.UrlNotAllowed(`url ${JSON.stringify(raw)} is not an absolute URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new errors.UrlNotAllowed(`url must use http or https, not ${url.protocol.slice(0, -1)}`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new errors.UrlNotAllowed("url must not carry credentials; use the subscriber's headers instead");
  }
  if (allowPrivate) return;
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (isLocalhostName(host)) throw new errors.UrlNotAllowed(`url host ${host} is loopback; ${ALLOW_HINT}`);
  if (isIP(host) !== 0) {
    if (isBlockedAddress(host))
      throw new errors.UrlNotAllowed(`url host ${host} is a private or reserved address; ${ALLOW_HINT}`);
    return;
  }
  let addresses: LookupAddress[];
  let timer: NodeJS.Timeout | undefined;
  try {
    // A resolver that does not answer is treated like one that fails: the request must not hang.
    const timeout = new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error("DNS timeout")), DNS_TIMEOUT_MS)),
    );
    addresses = await Promise.race([dns.lookup(host, { all: true, verbatim: true }), timeout]);
  } catch {
    return;
  } finally {
    clearTimeout(timer);
  }
  const blocked = addresses.find((a) => isBlockedAddress(a.address));
  if (blocked) {
    throw new errors.UrlNotAllowed(
      `url host ${host} resolves to ${blocked.address}, a private or reserved address; ${ALLOW_HINT}`,
    );
  }
}

/** The error the connect-time lookup fails with; the webhook client dead-letters it as `ssrf_blocked`. */
export class SsrfBlockedError extends Error {
  override name = "SsrfBlockedError";
  readonly code = "SSRF_BLOCKED";
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `dns.lookup`-compatible function for `net.connect`/undici (`connect: { lookup }`): it
 * resolves every address of the name and fails with `SsrfBlockedError` (code `SSRF_BLOCKED`)
 * when any is blocked, so the socket only ever opens to a checked address. With `allowPrivate`
 * it is plain `dns.lookup`. Node skips the lookup for literal-IP hosts: `createSsrfConnector`
 * adds the check for those.
 */
export function createSsrfLookup(allowPrivate: boolean) {
  return function ssrfLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
    if (allowPrivate) {
      dnsLookup(hostname, { ...options, all: true }, (err, addresses) => reply(callback, options, err, addresses));
      return;
    }
    if (isLocalhostName(hostname)) {
      callback(new SsrfBlockedError(`${hostname} is loopback (SSRF guard)`), "");
      return;
    }
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      const blocked = err ? undefined : addresses.find((a) => isBlockedAddress(a.address));
      if (blocked) {
        callback(
          new SsrfBlockedError(
            `${hostname} resolves to ${blocked.address}, a private or reserved address (SSRF guard)`,
          ),
          "",
        );
        return;
      }
      reply(callback, options, err, addresses);
    });
  };
}

/**
 * An undici connector (`new Agent({ connect: createSsrfConnector(allowPrivate) })`) that applies
 * the guard to every connection: a literal blocked address fails with `SsrfBlockedError` before
 * any socket opens (Node never runs a lookup for literals, so a URL stored while private
 * addresses were allowed would otherwise still be reached), and names go through
 * `createSsrfLookup`.
 */
export function createSsrfConnector(
  allowPrivate: boolean,
  options: buildConnector.BuildOptions = {},
): buildConnector.connector {
  const connect = buildConnector({ ...options, lookup: createSsrfLookup(allowPrivate) });
  return (opts, callback) => {
    const host = opts.hostname.startsWith("[") ? opts.hostname.slice(1, -1) : opts.hostname;
    if (!allowPrivate && isIP(host) !== 0 && isBlockedAddress(host)) {
      callback(new SsrfBlockedError(`${host} is a private or reserved address (SSRF guard)`), null);
      return;
    }
    connect(opts, callback);
  };
}

function reply(
  callback: LookupCallback,
  options: LookupOptions,
  err: NodeJS.ErrnoException | null,
  addresses: LookupAddress[],
): void {
  if (err) return callback(err, "");
  if (options.all) return callback(null, addresses);
  const first = addresses[0];
  if (!first) return callback(Object.assign(new Error(`no address`), { code: "ENOTFOUND" }), "");
  callback(null, first.address, first.family);
}
