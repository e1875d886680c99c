/**
 * The SSRF guard (docs/CONTRACT.md §4): webhooks reach globally routable unicast addresses only,
 * unless BRAIN_WEBHOOK_ALLOW_PRIVATE=true.
 *
 * It is an allow-list: a deny-list of private ranges kept letting through special-purpose ranges
 * nobody had listed (Teredo, the 6to4 relay anycast, …). ipaddr.js names the special-purpose
 * ranges of the IANA registries; anything it calls `unicast` is allowed, except IPv6 outside
 * 2000::/3 (the only block IANA allocates for global unicast). IPv4-mapped IPv6 and the NAT64
 * well-known prefix carry an IPv4 address that the packet really goes to: they are judged by it.
 *
 * It runs twice, with the same function. At create/PATCH, `assertUrlAllowed` refuses a refused
 * literal address, the name `localhost`, or a name that resolves to any refused address. At
 * connect time, `createSsrfLookup` is the DNS lookup of the outgoing HTTP agent: the socket
 * connects to the very addresses it checked, so a name that re-resolves elsewhere later (DNS
 * rebinding) is still caught.
 */
import { lookup as dnsLookup, promises as dns, type LookupAddress, type LookupOptions } from "node:dns";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { buildConnector } from "undici";
import { errors } from "../errors.js";

/** IANA's global unicast block; the rest of the IPv6 space is reserved, local or multicast. */
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR("2000::/3");
/** The NAT64 well-known prefix (RFC 6052): a translator forwards to the IPv4 address in the last 32 bits. */
const NAT64_WKP = ipaddr.IPv6.parseCIDR("64:ff9b::/96");

function isPublicV4(ip: ipaddr.IPv4): boolean {
  return ip.range() === "unicast";
}

function isPublicV6(ip: ipaddr.IPv6): boolean {
  if (ip.isIPv4MappedAddress()) return isPublicV4(ip.toIPv4Address());
  if (ip.match(NAT64_WKP)) return isPublicV4(new ipaddr.IPv4(ip.toByteArray().slice(12)));
  return ip.range() === "unicast" && ip.match(GLOBAL_UNICAST_V6);
}

/**
 * True for an IP address (v4 or v6, with or without brackets or a zone) that webhooks must not
 * reach: anything but globally routable unicast. Only the standard textual forms count as
 * addresses (Node's `isIP`); anything else is refused rather than guessed at.
 */
export function isBlockedAddress(ip: string): boolean {
  const bare = (ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip).replace(/%.*$/, "");
  const family = isIP(bare);
  if (family === 4) return !isPublicV4(ipaddr.IPv4.parse(bare));
  // ipaddr.js reads `::a.b.c.d` as IPv4-mapped, which it is not: the WHATWG serializer writes the
  // address in plain hex first, so the guard judges the address the socket would really reach.
  if (family === 6) return !isPublicV6(ipaddr.IPv6.parse(new URL(`http://[${bare}]/`).hostname.slice(1, -1)));
  return true;
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
