import { createHash, hash } from "node:crypto";
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
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

// The one-shot hash into a string: a Hash object, or a Buffer out, costs two to four times as much
// per request (bench/RESULTS.md, issue 13).
const digest = (s: string) => hash("sha256", s, "base64");

/** 96 bits of a domain-separated digest: unique per token, and nothing to compare a guessed token against. */
export const credentialId = (token: string) =>
  createHash("sha256").update(`brain-credential:${token}`).digest("base64url").slice(0, 16);

/**
 * Bearer-token check for /v1 routes. The presented token is looked up by its SHA-256 digest, never
 * compared itself: how long the lookup takes depends on the digest only, and a digest that shares
 * a prefix with a token's digest says nothing about the token's characters (finding those would
 * take a preimage of SHA-256). So timing reveals neither a prefix of a token nor which one matched,
 * as the per-token constant-time compare this replaced (docs/CONTRACT.md §3).
 */
export function authHook(tokens: ApiToken[]) {
  const known = new Map(tokens.map((t) => [digest(t.token), { scopes: t.scopes, id: credentialId(t.token) }]));
  // Callback style: an async hook costs every request a promise and a microtask hop.
  return (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const header = request.headers.authorization;
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    const match = m === null ? undefined : known.get(digest(m[1]!));
    if (match === undefined) return done(new errors.Unauthorized());
    const needed = request.routeOptions.config.scope ?? "admin";
    if (!match.scopes.has(needed)) return done(new errors.Forbidden(needed));
    request.credentialId = match.id;
    done();
  };
}
