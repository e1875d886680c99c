import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import type { ApiToken, Scope } from "../config.js";
import { errors } from "../errors.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The scope a route under /v1 requires. */
    scope?: Scope;
  }
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * Bearer-token check for /v1 routes. Tokens are compared as SHA-256 digests with
 * timingSafeEqual, over every configured token, so timing reveals neither a prefix nor which
 * token matched.
 */
export function authHook(tokens: ApiToken[]) {
  const known = tokens.map((t) => ({ digest: digest(t.token), scopes: t.scopes }));
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new errors.Unauthorized();
    const presented = digest(m[1]!);
    let scopes: Set<Scope> | undefined;
    for (const t of known) {
      if (timingSafeEqual(t.digest, presented)) scopes = t.scopes;
    }
    if (!scopes) throw new errors.Unauthorized();
    const needed = request.routeOptions.config.scope ?? "admin";
    if (!scopes.has(needed)) throw new errors.Forbidden(needed);
  };
}
