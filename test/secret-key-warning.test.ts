/**
 * A gateway started without BRAIN_SECRET_KEY says once, through its logger, that subscriber
 * secrets are stored in plain text; with the key it says nothing of the kind.
 */
import t from "tap";
import { testEnv } from "./helpers/env.js";
import { spawnGateway } from "./helpers/processes.js";

const WARNING = /BRAIN_SECRET_KEY is unset: subscriber signing secrets are stored in Postgres in plain text/;

t.test("without BRAIN_SECRET_KEY the process logs one warning line at start", async (t) => {
  const env = await testEnv(t, { BRAIN_ROLE: "api", LOG_LEVEL: "warn" });
  const gw = await spawnGateway(t, env);
  t.equal((await fetch(`${gw.url}/health/live`)).status, 200, "it started");
  const lines = gw
    .stderr()
    .split("\n")
    .filter((l) => WARNING.test(l));
  t.equal(lines.length, 1, "exactly one line");
  t.match(JSON.parse(lines[0]!), { level: 40, msg: WARNING }, "a warn-level log line of the app's logger");
});

t.test("with BRAIN_SECRET_KEY there is no such warning", async (t) => {
  const env = await testEnv(t, {
    BRAIN_ROLE: "api",
    LOG_LEVEL: "warn",
    BRAIN_SECRET_KEY: "a-very-long-test-encryption-key-0123456789",
  });
  const gw = await spawnGateway(t, env);
  t.equal((await fetch(`${gw.url}/health/live`)).status, 200, "it started");
  t.notMatch(gw.stderr(), /BRAIN_SECRET_KEY is unset/);
});
