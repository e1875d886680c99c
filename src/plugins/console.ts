/**
 * The operator console at /console (roles `all` and `api`): the Preact app that `npm run build`
 * writes to dist/console (vite.config.ts), served from disk with a CSP that lets the page run only
 * its own scripts and styles and talk only to this gateway. Its file names carry content hashes,
 * so they are cached for a year; index.html, which names them, is revalidated on every load.
 */
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { errors } from "../errors.js";

/** dist/console from the repository root: this file is src/plugins/console.ts or dist/plugins/console.js. */
export const CONSOLE_DIR = fileURLToPath(new URL("../../dist/console", import.meta.url));

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export interface ConsoleOptions {
  /** The built console (default dist/console). */
  root?: string;
}

/** Registered encapsulated (no fastify-plugin): its headers hook covers the console's routes only. */
export default async function consolePlugin(app: FastifyInstance, opts: ConsoleOptions): Promise<void> {
  if (app.config.role === "dispatcher") return;
  const root = opts.root ?? CONSOLE_DIR;
  app.addHook("onSend", async (_request, reply) => {
    reply.header("content-security-policy", CONSOLE_CSP);
    reply.header("x-content-type-options", "nosniff");
    reply.header("referrer-policy", "no-referrer");
    reply.header("x-frame-options", "DENY");
  });
  const index = await readFile(join(root, "index.html")).catch(() => null);
  const page = async (
    _request: unknown,
    reply: { header(k: string, v: string): unknown; type(t: string): unknown },
  ) => {
    if (index === null) throw new errors.ConsoleNotBuilt();
    reply.header("cache-control", "no-cache");
    reply.type("text/html; charset=utf-8");
    return index;
  };
  app.get("/console", { schema: { hide: true } }, page);
  app.get("/console/", { schema: { hide: true } }, page);
  if (index === null) return;
  await app.register(fastifyStatic, {
    root: join(root, "assets"),
    prefix: "/console/assets/",
    decorateReply: false,
    index: false,
    list: false,
    immutable: true,
    maxAge: "365d",
  });
}
