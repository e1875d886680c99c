/**
 * Configuration: the environment, validated once at start into one typed object.
 *
 * ADR-001 lives here: `BRAIN_EVENTSTREAM_MODE` is `required` (default) or `degraded`; there is
 * no silent "optional" mode, and the legacy flags that used to select one are fatal when set.
 */
import { Type, type Static } from "typebox";
import { Value } from "typebox/value";
import { parseDuration, parseDurationList } from "./duration.js";

/** Flags of the removed "optional event stream" mode: setting any of them, even empty, is fatal. */
export const LEGACY_FLAGS = ["ENABLE_EVENT_STREAM", "USE_EVENT_STREAM", "EVENT_STREAM_AVAILABLE"] as const;

export const SCOPES = ["publish", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

const Bool = Type.Union([Type.Literal("true"), Type.Literal("false"), Type.Literal("1"), Type.Literal("0")]);
/** A decimal integer; its range is checked after the schema (env values are strings). */
const Int = (min: number, max = Number.MAX_SAFE_INTEGER) => Type.String({ pattern: "^[0-9]{1,15}$", "x-range": [min, max] });

/** Every variable the gateway reads; unknown variables are ignored, known ones are checked. */
export const EnvSchema = Type.Object({
  PORT: Type.Optional(Int(0, 65535)),
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_URL: Type.Optional(Type.String({ pattern: "^rediss?://" })),
  DATABASE_URL: Type.Optional(Type.String({ pattern: "^postgres(ql)?://" })),
  BRAIN_EVENTSTREAM_MODE: Type.Optional(Type.Union([Type.Literal("required"), Type.Literal("degraded")])),
  BRAIN_STREAM: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  BRAIN_API_TOKENS: Type.Optional(Type.String()),
  BRAIN_RETRY_SCHEDULE: Type.Optional(Type.String({ minLength: 1 })),
  BRAIN_CLAIM_IDLE_MS: Type.Optional(Int(1000)),
  BRAIN_WEBHOOK_TIMEOUT_MS: Type.Optional(Int(1)),
  BRAIN_WEBHOOK_ALLOW_PRIVATE: Type.Optional(Bool),
  LOG_LEVEL: Type.Optional(Type.Union(["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)))),
  BRAIN_ROLE: Type.Optional(Type.Union([Type.Literal("all"), Type.Literal("api"), Type.Literal("dispatcher")])),
  BRAIN_SECRET_KEY: Type.Optional(Type.String({ minLength: 32 })),
  BRAIN_MAX_BODY_BYTES: Type.Optional(Int(1024)),
  BRAIN_MAX_ENVELOPE_BYTES: Type.Optional(Int(256)),
  BRAIN_MAX_BATCH: Type.Optional(Int(1, 100_000)),
  BRAIN_STREAM_MAXLEN: Type.Optional(Int(0)),
  BRAIN_SHUTDOWN_TIMEOUT_MS: Type.Optional(Int(100)),
  BRAIN_DELIVERY_RETENTION_HOURS: Type.Optional(Int(1)),
  BRAIN_METRICS_MAX_EVENT_TYPES: Type.Optional(Int(1, 10_000)),
  BRAIN_MAX_EVENT_LOOP_DELAY_MS: Type.Optional(Int(0)),
  BRAIN_MAX_HEAP_USED_PERCENT: Type.Optional(Int(0, 100)),
  BRAIN_TRIM_INTERVAL_MS: Type.Optional(Int(0)),
  BRAIN_STREAM_RETENTION: Type.Optional(Type.String({ minLength: 2 })),
});
type Env = Static<typeof EnvSchema>;

export interface ApiToken {
  token: string;
  scopes: Set<Scope>;
}

export interface Config {
  port: number;
  host: string;
  redisUrl: string;
  databaseUrl: string;
  mode: "required" | "degraded";
  stream: string;
  /** Tokens from BRAIN_API_TOKENS, or one generated admin+publish token (`generatedToken` set). */
  tokens: ApiToken[];
  generatedToken: string | null;
  retryScheduleMs: number[];
  claimIdleMs: number;
  webhookTimeoutMs: number;
  webhookAllowPrivate: boolean;
  logLevel: string;
  /** `all` runs API and dispatcher; `api` or `dispatcher` run one half so they scale apart. */
  role: "all" | "api" | "dispatcher";
  secretKey: string | null;
  maxBodyBytes: number;
  maxEnvelopeBytes: number;
  maxBatch: number;
  /** Hard cap on stream length, enforced by the trimmer (stream/trimmer.ts); 0 disables it. */
  streamMaxLen: number;
  shutdownTimeoutMs: number;
  /** delivery_attempts rows older than this are deleted (BRAIN_DELIVERY_RETENTION_HOURS, default 7 days). */
  deliveryRetentionHours: number;
  /** Distinct event types labelled in metrics; later ones fold into `other`. */
  metricsMaxEventTypes: number;
  /** Load shedding: 503 once the mean event-loop delay exceeds this (ms); 0 disables it. */
  maxEventLoopDelayMs: number;
  /** Load shedding: 503 once the used heap exceeds this share of V8's heap limit; 0 disables it. */
  maxHeapUsedPercent: number;
  /** How often the trimmer runs (ms); 0 disables trimming (the stream then grows without bound). */
  trimIntervalMs: number;
  /** Entries every group is done with stay this long (browsing, `start_from: earliest`) before trimming. */
  streamRetentionMs: number;
}

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
        "BRAIN_API_TOKENS: each entry must be <token>=<scope>[+<scope>] with a token of at least 16 characters and no ',', '=', '+' or space",
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

function checkEnv(env: Record<string, string | undefined>): Env {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const v = env[key];
    if (v !== undefined) picked[key] = v;
  }
  for (const error of Value.Errors(EnvSchema, picked)) {
    const name = error.instancePath.split("/")[1] ?? "environment";
    // A union of literals (booleans, LOG_LEVEL, BRAIN_ROLE) lists its values instead of Ajv's "must be equal to constant".
    const prop = (EnvSchema.properties as Record<string, { anyOf?: { const?: string }[]; "x-range"?: unknown }>)[name];
    const choices = (prop?.anyOf ?? []).map((c) => c.const);
    const why = choices.length > 0 ? `use one of: ${choices.join(", ")}` : prop?.["x-range"] ? "must be a whole number" : error.message;
    throw new ConfigError(`${name}: invalid value ${JSON.stringify(picked[name])} (${why})`);
  }
  for (const [key, prop] of Object.entries(EnvSchema.properties) as unknown as [string, Record<string, unknown>][]) {
    const range = prop["x-range"] as [number, number] | undefined;
    const raw = picked[key];
    if (range === undefined || raw === undefined) continue;
    const [min, max] = range;
    const n = Number(raw);
    if (n < min || n > max) {
      throw new ConfigError(`${key}: ${raw} is out of range (${min}..${max})`);
    }
  }
  return picked as Env;
}

/** Reads and validates the environment; throws ConfigError naming the variable at fault. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  for (const flag of LEGACY_FLAGS) {
    if (flag in env) {
      throw new ConfigError(
        `${flag} is a removed legacy flag (the event stream is required infrastructure, ADR-001): unset it and use BRAIN_EVENTSTREAM_MODE=required|degraded`,
      );
    }
  }
  const rawMode = env["BRAIN_EVENTSTREAM_MODE"];
  if (rawMode !== undefined && rawMode !== "required" && rawMode !== "degraded") {
    throw new ConfigError(`BRAIN_EVENTSTREAM_MODE: "${rawMode}" is not a mode; use "required" (default) or "degraded" (dev/CI only)`);
  }
  const e = checkEnv(env);
  const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
  const bool = (v: string | undefined) => v === "true" || v === "1";

  let retryScheduleMs: number[];
  try {
    retryScheduleMs = parseDurationList(e.BRAIN_RETRY_SCHEDULE ?? "5s,5m,30m,2h,5h,10h,10h");
  } catch (err) {
    throw new ConfigError(`BRAIN_RETRY_SCHEDULE: ${(err as Error).message}`);
  }

  let tokens: ApiToken[];
  let generatedToken: string | null = null;
  if (e.BRAIN_API_TOKENS === undefined) {
    generatedToken = `brain_${crypto.randomUUID().replaceAll("-", "")}`;
    tokens = [{ token: generatedToken, scopes: new Set(SCOPES) }];
  } else {
    tokens = parseTokens(e.BRAIN_API_TOKENS);
  }

  let streamRetentionMs: number;
  try {
    streamRetentionMs = parseDuration(e.BRAIN_STREAM_RETENTION ?? "1h");
  } catch (err) {
    throw new ConfigError(`BRAIN_STREAM_RETENTION: ${(err as Error).message}`);
  }

  const claimIdleMs = num(e.BRAIN_CLAIM_IDLE_MS, 60_000);
  const webhookTimeoutMs = num(e.BRAIN_WEBHOOK_TIMEOUT_MS, 10_000);
  if (webhookTimeoutMs >= claimIdleMs) {
    throw new ConfigError(
      `BRAIN_WEBHOOK_TIMEOUT_MS: ${webhookTimeoutMs} must stay below BRAIN_CLAIM_IDLE_MS (${claimIdleMs}), or two consumers could hold one entry at once`,
    );
  }

  return {
    port: num(e.PORT, 8080),
    host: e.HOST ?? "127.0.0.1",
    redisUrl: e.REDIS_URL ?? "redis://127.0.0.1:6379",
    databaseUrl: e.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    mode: e.BRAIN_EVENTSTREAM_MODE ?? "required",
    stream: e.BRAIN_STREAM ?? "brain:events:stream",
    tokens,
    generatedToken,
    retryScheduleMs,
    claimIdleMs,
    webhookTimeoutMs,
    webhookAllowPrivate: bool(e.BRAIN_WEBHOOK_ALLOW_PRIVATE),
    logLevel: e.LOG_LEVEL ?? "info",
    role: e.BRAIN_ROLE ?? "all",
    secretKey: e.BRAIN_SECRET_KEY ?? null,
    maxBodyBytes: num(e.BRAIN_MAX_BODY_BYTES, 1024 * 1024),
    maxEnvelopeBytes: num(e.BRAIN_MAX_ENVELOPE_BYTES, 256 * 1024),
    maxBatch: num(e.BRAIN_MAX_BATCH, 500),
    streamMaxLen: num(e.BRAIN_STREAM_MAXLEN, 0),
    shutdownTimeoutMs: num(e.BRAIN_SHUTDOWN_TIMEOUT_MS, 15_000),
    deliveryRetentionHours: num(e.BRAIN_DELIVERY_RETENTION_HOURS, 168),
    metricsMaxEventTypes: num(e.BRAIN_METRICS_MAX_EVENT_TYPES, 100),
    maxEventLoopDelayMs: num(e.BRAIN_MAX_EVENT_LOOP_DELAY_MS, 1000),
    maxHeapUsedPercent: num(e.BRAIN_MAX_HEAP_USED_PERCENT, 90),
    trimIntervalMs: num(e.BRAIN_TRIM_INTERVAL_MS, 5000),
    streamRetentionMs,
  };
}

/** Masks the password of a connection URL for error messages and logs. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "****";
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ":****@");
  }
}
