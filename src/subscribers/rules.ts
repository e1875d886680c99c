/**
 * The subscriber rules the request schema cannot express (docs/CONTRACT.md §3, §4): reserved and hop-by-hop
 * headers, the timeout bound, the SSRF guard and the secret format. Each failure is a 400 naming the field.
 */
import { isValidSecret } from "../delivery/secrets.js";
import { assertUrlAllowed } from "../delivery/ssrf.js";
import { errors, withDetails } from "../errors.js";

/** Header names a subscriber may not set: the gateway owns them (signature, framing, routing). */
export function isReservedHeader(name: string): boolean {
  const n = name.toLowerCase();
  return (
    n.startsWith("webhook-") ||
    n.startsWith("x-brain-") ||
    n === "content-type" ||
    n === "content-length" ||
    n === "host"
  );
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1, plus Expect and Proxy-Authorization): they describe the
 * connection, which the gateway's HTTP client owns. The client refuses some of them outright, so
 * every delivery would dead-letter; the rest would be meaningless or misleading to the receiver.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
]);

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;

function headerProblem(name: string): string | null {
  if (!HEADER_NAME.test(name)) return "is not a valid header name";
  if (isReservedHeader(name))
    return "is reserved (webhook-*, x-brain-*, content-type, content-length and host are set by the gateway)";
  if (HOP_BY_HOP.has(name.toLowerCase()))
    return (
      "is a hop-by-hop header (connection, keep-alive, te, trailer, transfer-encoding, upgrade, expect, proxy-*): " +
      "the gateway manages the connection"
    );
  return null;
}

/** Refuses invalid, reserved and hop-by-hop header names, each named in the details. */
export function checkHeaders(headers: Record<string, string> | undefined): void {
  if (headers === undefined) return;
  const details = Object.keys(headers).flatMap((name) => {
    const message = headerProblem(name);
    return message === null ? [] : [{ path: `/headers/${name}`, message }];
  });
  if (details.length > 0)
    throw withDetails(new errors.InvalidRequest(`body${details[0]!.path} ${details[0]!.message}`), details);
}

/** A request timeout must stay below the reclaim idle time (docs/CONTRACT.md §4). */
export function checkTimeout(timeoutMs: number | undefined, claimIdleMs: number): void {
  if (timeoutMs === undefined || timeoutMs < claimIdleMs) return;
  const message =
    `must be below BRAIN_CLAIM_IDLE_MS (${claimIdleMs}), or another process could reclaim an entry while its request ` +
    `is still open`;
  throw withDetails(new errors.InvalidRequest(`body/timeout_ms ${message}`), [{ path: "/timeout_ms", message }]);
}

/** The SSRF rules of docs/CONTRACT.md §4, reported on `/url`. */
export async function checkUrl(url: string | undefined, allowPrivate: boolean): Promise<void> {
  if (url === undefined) return;
  try {
    await assertUrlAllowed(url, allowPrivate);
  } catch (err) {
    throw withDetails(err as Error, [{ path: "/url", message: (err as Error).message }]);
  }
}

/** A user-provided secret must be `whsec_` with 24–64 bytes. */
export function checkSecret(secret: string | undefined): void {
  if (secret === undefined || isValidSecret(secret)) return;
  const message = "must be whsec_ followed by the base64 of 24 to 64 bytes";
  throw withDetails(new errors.InvalidRequest(`body/secret ${message}`), [{ path: "/secret", message }]);
}
