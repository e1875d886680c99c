/**
 * The process: read the configuration, build the gateway, listen, and shut down gracefully on
 * SIGTERM/SIGINT (in-flight requests and deliveries finish, connections close, exit 0).
 */
import closeWithGrace from "close-with-grace";
import { build } from "./app.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { StartupError } from "./errors.js";

function fatal(message: string, code: number): never {
  process.stderr.write(`fatal: ${message}\n`);
  process.exit(code);
}

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) fatal(err.message, 2);
  throw err;
}
if (config.generatedToken) {
  // Printed whatever LOG_LEVEL is, and only once: a first run works and is never open.
  process.stderr.write(
    `BRAIN_API_TOKENS is unset: generated an admin+publish token for this process:\n  ${config.generatedToken}\n` +
      "Set BRAIN_API_TOKENS (e.g. <token>=admin+publish) to keep tokens across restarts.\n",
  );
}

let app;
try {
  app = await build(config);
} catch (err) {
  if (err instanceof StartupError) fatal(err.message, 1);
  throw err;
}

const gateway = app;
if (config.secretKey === null) {
  // Said once per start, through the logger, so it reaches wherever the operator reads logs.
  gateway.log.warn(
    "BRAIN_SECRET_KEY is unset: subscriber signing secrets are stored in Postgres in plain text; " +
      "set it (32+ characters) to encrypt them at rest",
  );
}
closeWithGrace({ delay: config.shutdownTimeoutMs }, async ({ signal, err }) => {
  if (err) gateway.log.error({ err }, "closing after an uncaught error");
  else gateway.log.info({ signal }, "shutting down");
  await gateway.close();
});

await gateway.listen({ port: config.port, host: config.host });
