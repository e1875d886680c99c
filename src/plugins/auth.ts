import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import type { ApiToken, Scope } from "../config.js";
import { errors } from "../errors.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The scope a route under /v1 requires. */
    scope?: Scope;
  }
  interface FastifyRequest {
    /**
     * A stable id of the credential that sent the request: it scopes idempotency keys
     * (docs/CONTRACT.md §3). Derived from the token, never the token itself; "" before auth.
     */
    credentialId: string;
  }
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** 96 bits of a domain-separated digest: unique per token, and nothing to compare a guessed token against. */
export const credentialId = (token: string) =>
  createHash("sha256").update(`brain-credential:${token}`).digest("base64url").slice(0, 16);

/**
 * Bearer-token check for /v1 routes. Tokens are compared as SHA-256 digests with
 * timingSafeEqual, over every configured token, so timing reveals neither a prefix nor which
 * token matched.
 */
export function authHook(tokens: ApiToken[]) {
  const known = tokens.map((t) => ({ digest: digest(t.token), scopes: t.scopes, id: credentialId(t.token) }));
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new errors.Unauthorized();
    const presented = digest(m[1]!);
    let match: (typeof known)[number] | undefined;
    for (const t of known) {
      if (timingSafeEqual(t.digest, presented)) match = t;
    }
    if (!match) throw new errors.Unauthorized();
    const needed = request.routeOptions.config.scope ?? "admin";
    if (!match.scopes.has(needed)) throw new errors.Forbidden(needed);
    request.credentialId = match.id;
  };
}
