/**
 * Configuration: the environment, validated once at start into one typed object.
 *
 * The event stream is required infrastructure: `BRAIN_EVENTSTREAM_MODE` is `required` (default) or
 * `degraded`; there is no silent "optional" mode, and the legacy flags that used to select one are
 * fatal when set. One schema holds each key with the variable it reads, its range and its default,
 * so the type, the checks and the defaults cannot drift apart.
 */
import { Type, type StaticDecode, type TObject, type TSchema } from "typebox";
import type { TLocalizedValidationError } from "typebox/error";
import { Value } from "typebox/value";
import { DEFAULT_MAX_BATCH } from "./schemas/envelope.js";

/** Flags of the removed "optional event stream" mode: setting any of them, even empty, is fatal. */
export const LEGACY_FLAGS = ["ENABLE_EVENT_STREAM", "USE_EVENT_STREAM", "EVENT_STREAM_AVAILABLE"] as const;

/** The scopes a token in BRAIN_API_TOKENS can carry. */
export const SCOPES = ["publish", "admin"] as const;
/** One of SCOPES. */
export type Scope = (typeof SCOPES)[number];

/** One accepted API token and the scopes it grants. */
export interface ApiToken {
  token: string;
  scopes: Set<Scope>;
}

/** A configuration the gateway must not start with; the message names the variable at fault. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

const TOKEN_RE = /^[^,=+\s]{16,}$/;

/** Parses `k1=admin+publish,k2=publish`; any malformed entry or unknown scope is fatal. */
export function parseTokens(raw: string): ApiToken[] {
  const tokens: ApiToken[] = [];
  for (const entry of raw.split(",")) {
    const eq = entry.indexOf("=");
    const token = eq < 0 ? entry : entry.slice(0, eq);
    if (eq < 0 || !TOKEN_RE.test(token)) {
      throw new ConfigError(
        "BRAIN_API_TOKENS: each entry must be <token>=<scope>[+<scope>] with a token of at least 16 characters " +
          "and no ',', '=', '+' or space",
      );
    }
    const scopes = entry.slice(eq + 1).split("+");
    for (const s of scopes) {
      if (!(SCOPES as readonly string[]).includes(s)) {
        throw new ConfigError(`BRAIN_API_TOKENS: unknown scope "${s}" (known: ${SCOPES.join(", ")})`);
      }
    }
    if (tokens.some((t) => t.token === token)) throw new ConfigError("BRAIN_API_TOKENS: a token is listed twice");
    tokens.push({ token, scopes: new Set(scopes as Scope[]) });
  }
  return tokens;
}

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
// One source for the schema's patterns and the parser, so a value that passed the check always parses.
const DURATION = String.raw`\s*([0-9]+)(ms|s|m|h)\s*`;
const ONE_DURATION = new RegExp(`^${DURATION}$`);

/** Milliseconds of one duration such as `500ms`, `5s`, `30m` or `2h`; the schema has checked its shape. */
function parseDuration(text: string): number {
  const [, amount, unit] = ONE_DURATION.exec(text)!;
  return Number(amount) * UNITS[unit as keyof typeof UNITS];
}

/** Milliseconds of a comma-separated schedule such as `5s,5m,30m`. */
function parseDurationList(text: string): number[] {
  return text.split(",").map(parseDuration);
}

const DURATION_HELP = "use a whole number with ms, s, m or h";

/**
 * Every key, annotated with the variable it reads (`env`), and `invalid` where a plain
 * "invalid value" would not tell the operator what to write instead.
 */
const ConfigSchema = Type.Object({
  port: Type.Integer({ env: "PORT", minimum: 0, maximum: 65535, default: 8080 }),
  host: Type.String({ env: "HOST", minLength: 1, default: "127.0.0.1" }),
  // In cluster mode a comma-separated list of seed URLs; the rest of the cluster is discovered.
  redisUrl: Type.String({
    env: "REDIS_URL",
    pattern: "^rediss?://[^,]*(,rediss?://[^,]*)*$",
    default: "redis://127.0.0.1:6379",
    invalid: "is not a redis:// or rediss:// URL (in cluster mode: a comma-separated list of them)",
  }),
  redisMode: Type.Enum(["standalone", "cluster"], { env: "BRAIN_REDIS_MODE", default: "standalone" }),
  // Fixed for the life of a stream: the partition of an event is its hash modulo this (docs/CLUSTER.md).
  streamPartitions: Type.Integer({ env: "BRAIN_STREAM_PARTITIONS", minimum: 1, maximum: 1024, default: 1 }),
  // Ingest answers 202 only once this many replicas hold the entry (WAIT), else 503.
  redisMinReplicas: Type.Integer({ env: "BRAIN_REDIS_MIN_REPLICAS", minimum: 0, maximum: 16, default: 0 }),
  databaseUrl: Type.String({
    env: "DATABASE_URL",
    pattern: "^postgres(ql)?://",
    default: "postgres://postgres@127.0.0.1:5432/postgres",
  }),
  mode: Type.Enum(["required", "degraded"], {
    env: "BRAIN_EVENTSTREAM_MODE",
    default: "required",
    invalid: 'is not a mode; use "required" (default) or "degraded" (dev/CI only)',
  }),
  stream: Type.String({ env: "BRAIN_STREAM", minLength: 1, maxLength: 200, default: "brain:events:stream" }),
  // No default: loadConfig generates a token when the variable is unset, so the API is never open.
  tokens: Type.Decode(Type.String({ env: "BRAIN_API_TOKENS" }), parseTokens),
  generatedToken: Type.Union([Type.String(), Type.Null()], { default: null }),
  retryScheduleMs: Type.Decode(
    Type.String({
      env: "BRAIN_RETRY_SCHEDULE",
      pattern: `^${DURATION}(,${DURATION})*$`,
      default: "5s,5m,30m,2h,5h,10h,10h",
      invalid: `is not a list of durations (${DURATION_HELP} for each, separated by commas)`,
    }),
    parseDurationList,
  ),
  claimIdleMs: Type.Integer({ env: "BRAIN_CLAIM_IDLE_MS", minimum: 1000, default: 60_000 }),
  webhookTimeoutMs: Type.Integer({ env: "BRAIN_WEBHOOK_TIMEOUT_MS", minimum: 1, default: 10_000 }),
  webhookAllowPrivate: Type.Boolean({ env: "BRAIN_WEBHOOK_ALLOW_PRIVATE", default: false }),
  logLevel: Type.Enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
    env: "LOG_LEVEL",
    default: "info",
  }),
  // `api` and `dispatcher` run one half of the gateway each, so the two can scale apart.
  role: Type.Enum(["all", "api", "dispatcher"], { env: "BRAIN_ROLE", default: "all" }),
  secretKey: Type.Union([Type.String({ minLength: 32 }), Type.Null()], { env: "BRAIN_SECRET_KEY", default: null }),
  maxBodyBytes: Type.Integer({ env: "BRAIN_MAX_BODY_BYTES", minimum: 1024, default: 1024 * 1024 }),
  maxEnvelopeBytes: Type.Integer({ env: "BRAIN_MAX_ENVELOPE_BYTES", minimum: 256, default: 256 * 1024 }),
  maxBatch: Type.Integer({ env: "BRAIN_MAX_BATCH", minimum: 1, maximum: 100_000, default: DEFAULT_MAX_BATCH }),
  // Off by default, so a gateway without a registry accepts what it always did (docs/CONTRACT.md §7).
  requireRegisteredTypes: Type.Boolean({ env: "BRAIN_REQUIRE_REGISTERED_TYPES", default: false }),
  // A client that stalls its upload (or its headers) is cut off after this; it also bounds the headers.
  requestTimeoutMs: Type.Integer({ env: "BRAIN_REQUEST_TIMEOUT_MS", minimum: 100, default: 30_000 }),
  // Above the 60 s idle timeout of common load balancers, so the gateway never closes a connection the
  // balancer is about to reuse (that would fail the request it sends on it).
  keepAliveTimeoutMs: Type.Integer({ env: "BRAIN_KEEP_ALIVE_TIMEOUT_MS", minimum: 1000, default: 72_000 }),
  // In this and the other limits below, 0 turns the mechanism off.
  streamMaxLen: Type.Integer({ env: "BRAIN_STREAM_MAXLEN", minimum: 0, default: 0 }),
  shutdownTimeoutMs: Type.Integer({ env: "BRAIN_SHUTDOWN_TIMEOUT_MS", minimum: 100, default: 15_000 }),
  deliveryRetentionHours: Type.Integer({ env: "BRAIN_DELIVERY_RETENTION_HOURS", minimum: 1, default: 168 }),
  // Ledger retention (stream/ledger-retention.ts): a dedup row outlives its trimmed entry by at least
  // this (0: no margin for a Redis failover or restore); dead letters are kept forever unless set (0).
  ledgerMinAgeHours: Type.Integer({ env: "BRAIN_LEDGER_MIN_AGE_HOURS", minimum: 0, maximum: 87_600, default: 24 }),
  deadLetterRetentionHours: Type.Integer({
    env: "BRAIN_DEAD_LETTER_RETENTION_HOURS",
    minimum: 0,
    maximum: 87_600,
    default: 0,
  }),
  ledgerRetentionIntervalMs: Type.Integer({ env: "BRAIN_LEDGER_RETENTION_INTERVAL_MS", minimum: 0, default: 60_000 }),
  metricsMaxEventTypes: Type.Integer({
    env: "BRAIN_METRICS_MAX_EVENT_TYPES",
    minimum: 1,
    maximum: 10_000,
    default: 100,
  }),
  maxEventLoopDelayMs: Type.Integer({ env: "BRAIN_MAX_EVENT_LOOP_DELAY_MS", minimum: 0, default: 1000 }),
  maxHeapUsedPercent: Type.Integer({ env: "BRAIN_MAX_HEAP_USED_PERCENT", minimum: 0, maximum: 100, default: 90 }),
  trimIntervalMs: Type.Integer({ env: "BRAIN_TRIM_INTERVAL_MS", minimum: 0, default: 5000 }),
  streamRetentionMs: Type.Decode(
    Type.String({
      env: "BRAIN_STREAM_RETENTION",
      pattern: `^${DURATION}$`,
      default: "1h",
      invalid: `is not a duration (${DURATION_HELP})`,
    }),
    parseDuration,
  ),
});

/** The validated configuration: one key per variable, plus the token generated when none were given. */
export type Config = StaticDecode<typeof ConfigSchema>;

interface Field extends TSchema {
  env?: string;
  type?: unknown;
  minimum?: number;
  maximum?: number;
  invalid?: string;
}
type Env = Record<string, string | undefined>;
type Fields = Record<string, Field>;
const FIELDS = ConfigSchema.properties as Fields;

// Value.Convert alone would also take "1e3", " 12", "0x10" or "TRUE"; the environment must spell them plainly.
const PLAIN: Record<string, { spelling: RegExp; why: string }> = {
  integer: { spelling: /^[0-9]{1,15}$/, why: "must be a whole number" },
  boolean: { spelling: /^(true|false|1|0)$/, why: "use one of: true, false, 1, 0" },
};

/** Each key's variable, with numbers and booleans converted once their spelling is plain. */
function readEnv(env: Env, fields: Fields): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) {
    const text = field.env === undefined ? undefined : env[field.env];
    if (text === undefined) continue;
    const plain = PLAIN[String(field.type)];
    if (plain !== undefined && !plain.spelling.test(text)) {
      throw new ConfigError(`${field.env}: invalid value ${JSON.stringify(text)} (${plain.why})`);
    }
    // Converting the whole object instead would also turn an empty BRAIN_SECRET_KEY into "no key" (null).
    input[key] = plain === undefined ? text : Value.Convert(field, text);
  }
  return input;
}

/** The first schema violation as a ConfigError naming the variable and the reason. */
function describe(error: TLocalizedValidationError, env: Env): ConfigError {
  const key = error.instancePath.split("/")[1] ?? "";
  const field = FIELDS[key] ?? {};
  const name = field.env ?? key;
  const text = field.env === undefined ? undefined : env[field.env];
  if (error.keyword === "minimum" || error.keyword === "maximum") {
    const max = field.maximum ?? Number.MAX_SAFE_INTEGER;
    return new ConfigError(`${name}: ${text} is out of range (${field.minimum}..${max})`);
  }
  if (field.invalid !== undefined) return new ConfigError(`${name}: ${JSON.stringify(text)} ${field.invalid}`);
  const why = error.keyword === "enum" ? `use one of: ${error.params.allowedValues.join(", ")}` : error.message;
  return new ConfigError(`${name}: invalid value ${JSON.stringify(text)} (${why})`);
}

/** A legacy flag counts as set whatever its value, even empty. */
function rejectLegacyFlags(env: Env): void {
  const legacy = LEGACY_FLAGS.find((flag) => flag in env);
  if (legacy !== undefined) {
    throw new ConfigError(
      `${legacy} is a removed legacy flag (the event stream is required infrastructure, ADR-001): ` +
        "unset it and use BRAIN_EVENTSTREAM_MODE=required|degraded",
    );
  }
}

/** The Redis rules no single variable can state, shared by the server and the in-process publisher. */
function checkRedisRules(config: Pick<Config, "redisUrl" | "redisMode" | "streamPartitions" | "stream">): void {
  if (config.redisMode === "standalone" && config.redisUrl.includes(",")) {
    throw new ConfigError("REDIS_URL: a list of seed URLs needs BRAIN_REDIS_MODE=cluster");
  }
  // The stream name goes inside the partitions' hash tags, where a brace would end the tag early.
  if ((config.redisMode === "cluster" || config.streamPartitions > 1) && /[{}]/.test(config.stream)) {
    throw new ConfigError("BRAIN_STREAM: must not contain { or } in cluster mode or with several partitions");
  }
}

/** The rules no single variable can state; every other check lives in ConfigSchema. */
function checkRules(env: Env, config: Config): void {
  rejectLegacyFlags(env);
  checkRedisRules(config);
  if (config.webhookTimeoutMs >= config.claimIdleMs) {
    throw new ConfigError(
      `BRAIN_WEBHOOK_TIMEOUT_MS: ${config.webhookTimeoutMs} must stay below BRAIN_CLAIM_IDLE_MS ` +
        `(${config.claimIdleMs}), or two consumers could hold one entry at once`,
    );
  }
}

/** `input` with the schema's defaults, checked and decoded. */
function parse<S extends TObject>(schema: S, input: Record<string, unknown>, env: Env): StaticDecode<S> {
  const value = Value.Default(schema, input);
  const [error] = Value.Errors(schema, value);
  if (error !== undefined) throw describe(error, env);
  return Value.Decode(schema, value) as StaticDecode<S>;
}

/** Reads and validates the environment; throws ConfigError naming the variable at fault. */
export function loadConfig(env: Env = process.env): Config {
  const input = readEnv(env, FIELDS);
  if (input["tokens"] === undefined) {
    const token = `brain_${crypto.randomUUID().replaceAll("-", "")}`;
    Object.assign(input, { tokens: `${token}=${SCOPES.join("+")}`, generatedToken: token });
  }
  const config = parse(ConfigSchema, input, env);
  checkRules(env, config);
  return config;
}

/**
 * The keys an in-process publisher reads (ingest/in-process.ts): the same variables as the server,
 * and only those, so an application's own PORT or LOG_LEVEL never stops its publisher.
 */
const PublisherSchema = Type.Pick(ConfigSchema, [
  "redisUrl",
  "redisMode",
  "streamPartitions",
  "redisMinReplicas",
  "mode",
  "stream",
  "maxBodyBytes",
  "maxEnvelopeBytes",
  "maxBatch",
  "requireRegisteredTypes",
]);
export type PublisherConfig = StaticDecode<typeof PublisherSchema>;

/** The publisher's part of the environment, validated like the server's (legacy flags are fatal too). */
export function loadPublisherConfig(env: Env = process.env): PublisherConfig {
  rejectLegacyFlags(env);
  const config = parse(PublisherSchema, readEnv(env, PublisherSchema.properties as Fields), env);
  checkRedisRules(config);
  return config;
}

/** Masks the password of a connection URL (or of each in a comma-separated list) for error messages and logs. */
export function maskUrl(url: string): string {
  if (url.includes(",")) return url.split(",").map(maskUrl).join(",");
  try {
    const u = new URL(url);
    if (u.password) u.password = "****";
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ":****@");
  }
}
