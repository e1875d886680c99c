import t, { type Test } from "tap";
import { ConfigError, loadConfig, loadPublisherConfig, maskUrl } from "../src/config.js";
import { TOKENS } from "./helpers/env.js";
import { spawnGateway } from "./helpers/processes.js";

/** Loads `env` and returns the ConfigError message; fails the test when it loads. */
function rejection(t: Test, env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    t.type(err, ConfigError, "a ConfigError, not a crash");
    return (err as Error).message;
  }
  t.fail(`${JSON.stringify(env)} was accepted`);
  return "";
}

t.test("defaults: required mode, loopback host, and the documented value of every other key", async (t) => {
  const { tokens: _tokens, generatedToken: _generated, ...rest } = loadConfig({});
  t.same(rest, {
    port: 8080,
    host: "127.0.0.1",
    redisUrl: "redis://127.0.0.1:6379",
    redisMode: "standalone",
    streamPartitions: 1,
    redisMinReplicas: 0,
    databaseUrl: "postgres://postgres@127.0.0.1:5432/postgres",
    mode: "required",
    stream: "brain:events:stream",
    retryScheduleMs: [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
    claimIdleMs: 60_000,
    webhookTimeoutMs: 10_000,
    webhookAllowPrivate: false,
    logLevel: "info",
    role: "all",
    secretKey: null,
    maxBodyBytes: 1024 * 1024,
    maxEnvelopeBytes: 256 * 1024,
    maxBatch: 500,
    requireRegisteredTypes: false,
    requestTimeoutMs: 30_000,
    keepAliveTimeoutMs: 72_000,
    streamMaxLen: 0,
    shutdownTimeoutMs: 15_000,
    deliveryRetentionHours: 168,
    ledgerMinAgeHours: 24,
    deadLetterRetentionHours: 0,
    ledgerRetentionIntervalMs: 60_000,
    metricsMaxEventTypes: 100,
    maxEventLoopDelayMs: 1000,
    maxHeapUsedPercent: 90,
    trimIntervalMs: 5000,
    streamRetentionMs: 3_600_000,
  });
});

t.test("set variables reach their keys, durations in milliseconds", async (t) => {
  const c = loadConfig({
    PORT: "0",
    BRAIN_MAX_BATCH: "100000",
    BRAIN_MAX_HEAP_USED_PERCENT: "0",
    BRAIN_ROLE: "dispatcher",
    LOG_LEVEL: "silent",
    BRAIN_SECRET_KEY: "k".repeat(32),
    BRAIN_RETRY_SCHEDULE: "500ms, 2m,1h",
    BRAIN_STREAM_RETENTION: "90s",
    BRAIN_REQUEST_TIMEOUT_MS: "500",
    BRAIN_KEEP_ALIVE_TIMEOUT_MS: "65000",
  });
  t.match(c, { port: 0, maxBatch: 100_000, maxHeapUsedPercent: 0, role: "dispatcher", logLevel: "silent" });
  t.match(c, { requestTimeoutMs: 500, keepAliveTimeoutMs: 65_000 });
  t.equal(c.secretKey, "k".repeat(32));
  t.same(c.retryScheduleMs, [500, 120_000, 3_600_000]);
  t.equal(c.streamRetentionMs, 90_000);
});

t.test("an unset BRAIN_API_TOKENS yields one generated admin+publish token, never an open API", async (t) => {
  const c = loadConfig({});
  t.type(c.generatedToken, "string");
  t.ok(c.generatedToken!.length >= 16);
  t.equal(c.tokens.length, 1);
  t.same([...c.tokens[0]!.scopes].sort(), ["admin", "publish"]);
  t.not(loadConfig({}).generatedToken, c.generatedToken, "a new token per process");
});

t.test("BRAIN_API_TOKENS entries carry their scopes", async (t) => {
  const c = loadConfig({ BRAIN_API_TOKENS: TOKENS });
  t.equal(c.generatedToken, null);
  t.same(
    c.tokens.map((x) => [x.token.split("-")[1], [...x.scopes].sort()]),
    [
      ["admin", ["admin"]],
      ["publish", ["publish"]],
      ["both", ["admin", "publish"]],
    ],
  );
});

t.test("booleans take true/false/1/0", async (t) => {
  for (const [raw, value] of [
    ["true", true],
    ["1", true],
    ["false", false],
    ["0", false],
  ] as const) {
    t.equal(loadConfig({ BRAIN_WEBHOOK_ALLOW_PRIVATE: raw }).webhookAllowPrivate, value, raw);
    t.equal(loadConfig({ BRAIN_REQUIRE_REGISTERED_TYPES: raw }).requireRegisteredTypes, value, raw);
  }
});

t.test("both modes are accepted", async (t) => {
  t.equal(loadConfig({ BRAIN_EVENTSTREAM_MODE: "required" }).mode, "required");
  t.equal(loadConfig({ BRAIN_EVENTSTREAM_MODE: "degraded" }).mode, "degraded");
});

t.test("any other mode is fatal and names BRAIN_EVENTSTREAM_MODE", async (t) => {
  for (const mode of ["optional", "", "Required", "off"]) {
    t.match(rejection(t, { BRAIN_EVENTSTREAM_MODE: mode }), /^BRAIN_EVENTSTREAM_MODE: /, JSON.stringify(mode));
  }
  t.match(
    rejection(t, { BRAIN_EVENTSTREAM_MODE: "optional" }),
    /"optional" is not a mode; use "required" \(default\) or "degraded"/,
  );
});

t.test("each legacy flag is fatal whatever its value, even empty, and the error names it", async (t) => {
  for (const flag of ["ENABLE_EVENT_STREAM", "USE_EVENT_STREAM", "EVENT_STREAM_AVAILABLE"]) {
    for (const value of ["", "true", "false", "0"]) {
      const message = rejection(t, { [flag]: value, BRAIN_EVENTSTREAM_MODE: "degraded" });
      t.match(message, new RegExp(`^${flag} `), `${flag}=${JSON.stringify(value)}`);
      t.match(message, /BRAIN_EVENTSTREAM_MODE/, "and says what to use instead");
    }
  }
});

t.test("bad numbers are fatal and name the variable", async (t) => {
  const cases: [string, string][] = [
    ["PORT", "abc"],
    ["PORT", "-1"],
    ["PORT", "70000"],
    ["PORT", "80.5"],
    ["PORT", ""],
    ["BRAIN_CLAIM_IDLE_MS", "10"],
    ["BRAIN_CLAIM_IDLE_MS", "1e6"],
    ["BRAIN_WEBHOOK_TIMEOUT_MS", "0"],
    ["BRAIN_MAX_BODY_BYTES", "12kb"],
    ["BRAIN_MAX_BATCH", "0"],
    ["BRAIN_MAX_ENVELOPE_BYTES", " 1000"],
    ["BRAIN_MAX_ENVELOPE_BYTES", "1000 "],
    ["BRAIN_SHUTDOWN_TIMEOUT_MS", "0x1000"],
    ["BRAIN_SHUTDOWN_TIMEOUT_MS", "+1000"],
    ["BRAIN_TRIM_INTERVAL_MS", "1_000"],
    ["BRAIN_STREAM_MAXLEN", "1234567890123456"],
    ["BRAIN_REQUEST_TIMEOUT_MS", "50"],
    ["BRAIN_REQUEST_TIMEOUT_MS", "30s"],
    ["BRAIN_KEEP_ALIVE_TIMEOUT_MS", "999"],
  ];
  for (const [name, value] of cases) {
    t.match(rejection(t, { [name]: value }), new RegExp(`^${name}: `), `${name}=${JSON.stringify(value)}`);
  }
  t.match(rejection(t, { BRAIN_CLAIM_IDLE_MS: "500" }), /500 is out of range \(1000\.\.9007199254740991\)/);
  t.match(rejection(t, { PORT: "70000" }), /70000 is out of range \(0\.\.65535\)/);
  t.match(rejection(t, { PORT: "0x10" }), /whole number/, "not read as 16");
});

t.test("bad booleans, URLs, log levels and retry schedules are fatal and name the variable", async (t) => {
  const cases: [string, string][] = [
    ["BRAIN_WEBHOOK_ALLOW_PRIVATE", "yes"],
    ["BRAIN_WEBHOOK_ALLOW_PRIVATE", ""],
    ["BRAIN_WEBHOOK_ALLOW_PRIVATE", "TRUE"],
    ["BRAIN_REQUIRE_REGISTERED_TYPES", "yes"],
    ["REDIS_URL", "http://127.0.0.1:6379"],
    ["DATABASE_URL", "mysql://127.0.0.1/x"],
    ["LOG_LEVEL", "loud"],
    ["BRAIN_RETRY_SCHEDULE", "5x"],
    ["BRAIN_RETRY_SCHEDULE", "5s,,5m"],
    ["BRAIN_STREAM_RETENTION", "1d"],
    ["BRAIN_STREAM_RETENTION", "forever"],
    ["BRAIN_ROLE", "both"],
    ["HOST", ""],
    // An empty or "null" key must not quietly mean "no key": secrets would go unencrypted.
    ["BRAIN_SECRET_KEY", ""],
    ["BRAIN_SECRET_KEY", "null"],
    ["BRAIN_SECRET_KEY", "too-short"],
  ];
  for (const [name, value] of cases) {
    t.match(rejection(t, { [name]: value }), new RegExp(`^${name}: `), `${name}=${JSON.stringify(value)}`);
  }
  t.match(
    rejection(t, { BRAIN_WEBHOOK_ALLOW_PRIVATE: "yes" }),
    /use one of: true, false, 1, 0/,
    "the message lists the accepted values",
  );
  t.match(rejection(t, { PORT: "80.5" }), /whole number/);
  t.match(
    rejection(t, { LOG_LEVEL: "loud" }),
    /invalid value "loud" \(use one of: fatal, error, warn, info, debug, trace, silent\)/,
  );
  t.match(rejection(t, { BRAIN_STREAM_RETENTION: "1d" }), /"1d" is not a duration/);
});

t.test("malformed tokens and unknown scopes are fatal and name BRAIN_API_TOKENS", async (t) => {
  for (const raw of [
    "",
    "short-token=admin",
    "token-without-a-scope-list",
    "token with spaces in it=admin",
    "token+with+plus+signs=admin",
    "good-token-0123456789=admin,",
    "good-token-0123456789=root",
    "good-token-0123456789=admin+",
    "good-token-0123456789=admin,good-token-0123456789=publish",
  ]) {
    t.match(rejection(t, { BRAIN_API_TOKENS: raw }), /^BRAIN_API_TOKENS: /, JSON.stringify(raw));
  }
  t.match(rejection(t, { BRAIN_API_TOKENS: "good-token-0123456789=root" }), /unknown scope "root"/);
});

t.test("a webhook timeout not below the claim idle time is fatal and names both variables", async (t) => {
  const cases: Record<string, string>[] = [
    { BRAIN_WEBHOOK_TIMEOUT_MS: "60000" },
    { BRAIN_WEBHOOK_TIMEOUT_MS: "90000" },
    { BRAIN_CLAIM_IDLE_MS: "5000" },
    { BRAIN_CLAIM_IDLE_MS: "3000", BRAIN_WEBHOOK_TIMEOUT_MS: "3000" },
  ];
  for (const env of cases) {
    const message = rejection(t, env);
    t.match(message, /^BRAIN_WEBHOOK_TIMEOUT_MS: /, JSON.stringify(env));
    t.match(message, /BRAIN_CLAIM_IDLE_MS/);
  }
  t.equal(loadConfig({ BRAIN_CLAIM_IDLE_MS: "3000", BRAIN_WEBHOOK_TIMEOUT_MS: "2999" }).webhookTimeoutMs, 2999);
});

t.test(
  "the in-process publisher reads the server's variables for Redis, the stream, mode and limits only",
  async (t) => {
    t.same(loadPublisherConfig({}), {
      redisUrl: "redis://127.0.0.1:6379",
      redisMode: "standalone",
      streamPartitions: 1,
      redisMinReplicas: 0,
      mode: "required",
      stream: "brain:events:stream",
      maxBodyBytes: 1024 * 1024,
      maxEnvelopeBytes: 256 * 1024,
      maxBatch: 500,
      requireRegisteredTypes: false,
    });
    const set = loadPublisherConfig({
      REDIS_URL: "redis://10.0.0.1:6380",
      BRAIN_EVENTSTREAM_MODE: "degraded",
      BRAIN_STREAM: "s",
      BRAIN_MAX_ENVELOPE_BYTES: "1000",
      BRAIN_REQUIRE_REGISTERED_TYPES: "1",
      // An application's own variables of the same names are none of the publisher's business.
      PORT: "not-a-port",
      LOG_LEVEL: "verbose",
    });
    t.match(set, { redisUrl: "redis://10.0.0.1:6380", mode: "degraded", stream: "s", maxEnvelopeBytes: 1000 });
    t.equal(set.requireRegisteredTypes, true);
    for (const [name, value] of [
      ["BRAIN_EVENTSTREAM_MODE", "optional"],
      ["REDIS_URL", "http://x"],
      ["BRAIN_REQUIRE_REGISTERED_TYPES", "yes"],
      ["BRAIN_MAX_BATCH", "0"],
    ]) {
      t.throws(() => loadPublisherConfig({ [name!]: value }), new RegExp(`^${name}: `), `${name}=${value}`);
    }
    t.throws(() => loadPublisherConfig({ USE_EVENT_STREAM: "" }), /^USE_EVENT_STREAM is a removed legacy flag/);
  },
);

t.test("a real gateway with a bad configuration exits non-zero with one line naming the variable", async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ BRAIN_EVENTSTREAM_MODE: "optional" }, /BRAIN_EVENTSTREAM_MODE/],
    [{ USE_EVENT_STREAM: "" }, /USE_EVENT_STREAM/],
    [{ BRAIN_API_TOKENS: "k=admin" }, /BRAIN_API_TOKENS/],
    [{ PORT: "http" }, /PORT/],
  ];
  await Promise.all(
    cases.map(async ([env, names]) => {
      // Nothing but the bad variable: the config must fail before any service is touched.
      const gw = await spawnGateway(t, { LOG_LEVEL: "info", ...env });
      const code = await gw.exited;
      t.not(code, 0, `${JSON.stringify(env)} exits non-zero`);
      const lines = gw.stderr().trim().split("\n");
      t.equal(lines.length, 1, `one line: ${gw.stderr()}`);
      t.match(lines[0], names);
      t.match(lines[0], /^fatal: /);
    }),
  );
});

t.test("Redis Cluster and partition variables", async (t) => {
  const seeds = "redis://127.0.0.1:7000,redis://127.0.0.1:7001";
  const c = loadConfig({ BRAIN_REDIS_MODE: "cluster", REDIS_URL: seeds, BRAIN_STREAM_PARTITIONS: "16" });
  t.equal(c.redisMode, "cluster");
  t.equal(c.streamPartitions, 16);
  t.equal(c.redisMinReplicas, 0);
  t.throws(() => loadConfig({ REDIS_URL: seeds }), /REDIS_URL: a list of seed URLs needs BRAIN_REDIS_MODE=cluster/);
  t.throws(() => loadConfig({ BRAIN_REDIS_MODE: "sentinel" }), /BRAIN_REDIS_MODE/);
  t.throws(
    () => loadConfig({ BRAIN_STREAM_PARTITIONS: "0" }),
    /BRAIN_STREAM_PARTITIONS: 0 is out of range \(1\.\.1024\)/,
  );
  t.throws(() => loadConfig({ BRAIN_STREAM_PARTITIONS: "1025" }), /BRAIN_STREAM_PARTITIONS/);
  t.throws(() => loadConfig({ BRAIN_REDIS_MIN_REPLICAS: "-1" }), /BRAIN_REDIS_MIN_REPLICAS/);
  t.throws(
    () => loadConfig({ BRAIN_STREAM: "a{b}", BRAIN_STREAM_PARTITIONS: "2" }),
    /BRAIN_STREAM: must not contain \{ or \}/,
  );
  t.equal(loadConfig({ BRAIN_STREAM: "a{b}" }).stream, "a{b}", "one standalone partition keeps any name");
  t.throws(() => loadConfig({ BRAIN_REDIS_MODE: "cluster", REDIS_URL: "redis://a:1,http://b:2" }), /REDIS_URL/);
  t.throws(
    () => loadPublisherConfig({ REDIS_URL: seeds }),
    /needs BRAIN_REDIS_MODE=cluster/,
    "the in-process publisher holds the same rules",
  );
  t.equal(
    maskUrl("redis://u:secret@a:1,redis://u:secret@b:2"),
    "redis://u:****@a:1,redis://u:****@b:2",
    "every seed's password is masked",
  );
});
