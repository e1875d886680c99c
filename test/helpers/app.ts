/** The gateway built in-process (for app.inject), with an isolated environment. */
import type { FastifyInstance, InjectOptions } from "fastify";
import { build } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/config.js";
import { assertDocumented } from "./contract.js";
import { testEnv, type Test } from "./env.js";

/**
 * Builds the gateway in-process for app.inject; closed at teardown. Every injected request's
 * answer is checked against the OpenAPI document (contract.ts).
 */
export async function buildApp(
  t: Test,
  overrides: Record<string, string> = {},
): Promise<{ app: FastifyInstance; config: Config; env: Record<string, string> }> {
  const env = await testEnv(t, overrides);
  const config = loadConfig(env);
  const app = await build(config, false);
  t.teardown(() => app.close());
  checkResponses(app);
  return { app, config, env };
}

/** Wraps `app.inject(options)` so that each answer passes the contract check before the test sees it. */
function checkResponses(app: FastifyInstance): void {
  const inject = app.inject.bind(app);
  const checked = async (options: InjectOptions | string) => {
    const res = await inject(options);
    const opts = typeof options === "string" ? { url: options } : options;
    assertDocumented({
      method: opts.method ?? "GET",
      url: String(opts.url ?? opts.path ?? "/"),
      status: res.statusCode,
      contentType: res.headers["content-type"] as string | undefined,
      body: res.body,
    });
    return res;
  };
  app.inject = checked as typeof app.inject;
}
