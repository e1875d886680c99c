/** The gateway built in-process (for app.inject), with an isolated environment. */
import type { FastifyInstance } from "fastify";
import { build } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/config.js";
import { testEnv, type Test } from "./env.js";

/** Builds the gateway in-process for app.inject; closed at teardown. */
export async function buildApp(
  t: Test,
  overrides: Record<string, string> = {},
): Promise<{ app: FastifyInstance; config: Config; env: Record<string, string> }> {
  const env = await testEnv(t, overrides);
  const config = loadConfig(env);
  const app = await build(config, false);
  t.teardown(() => app.close());
  return { app, config, env };
}
