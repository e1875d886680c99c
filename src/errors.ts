/**
 * The error catalogue: every error code the API answers, with its status in one line, and the
 * mapping of any error (ours, Fastify's, a driver's) onto the shared body
 * `{ statusCode, code, error, message, details? }` (docs/CONTRACT.md §3).
 */
import createError from "@fastify/error";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { STATUS_CODES } from "node:http";
import { MAX_PATH_PARAM_LENGTH, type ErrorBody } from "./schemas/common.js";
import { SUPPORTED_SCHEMA_VERSIONS } from "./schemas/envelope.js";

export interface ErrorDetail {
  path: string;
  message: string;
}

/** An error that carries JSON-pointer details for the response body. */
export interface DetailedError extends Error {
  statusCode?: number;
  code?: string;
  details?: ErrorDetail[];
  /** Problems found but not listed in `details` (validation stops listing early). */
  omitted?: number;
}

export const errors = {
  Unauthorized: createError("UNAUTHORIZED", "a valid bearer token is required", 401),
  Forbidden: createError("FORBIDDEN", "this token lacks the %s scope", 403),
  NotFound: createError("NOT_FOUND", "%s", 404),
  InvalidJson: createError("INVALID_JSON", "%s", 400),
  InvalidEnvelope: createError("INVALID_ENVELOPE", "%s", 400),
  InvalidRequest: createError("INVALID_REQUEST", "%s", 400),
  UnsupportedSchemaVersion: createError("UNSUPPORTED_SCHEMA_VERSION", "%s", 400),
  PayloadTooDeep: createError("PAYLOAD_TOO_DEEP", "%s", 400),
  BatchTooLarge: createError("BATCH_TOO_LARGE", "a batch holds at most %s events", 400),
  PayloadSchemaMismatch: createError("PAYLOAD_SCHEMA_MISMATCH", "%s", 400),
  UnknownEventType: createError("UNKNOWN_EVENT_TYPE", "%s", 400),
  DuplicateEventId: createError("DUPLICATE_EVENT_ID", "%s", 400),
  UrlNotAllowed: createError("URL_NOT_ALLOWED", "%s", 400),
  RequestTimeout: createError("REQUEST_TIMEOUT", "%s", 408),
  Conflict: createError("CONFLICT", "%s", 409),
  ReplayRangeTrimmed: createError("REPLAY_RANGE_TRIMMED", "%s", 409),
  PreconditionFailed: createError("PRECONDITION_FAILED", "%s", 412),
  BodyTooLarge: createError("BODY_TOO_LARGE", "the request body is larger than %s bytes", 413),
  EnvelopeTooLarge: createError("ENVELOPE_TOO_LARGE", "%s", 413),
  UriTooLong: createError("URI_TOO_LONG", "%s", 414),
  UnsupportedMediaType: createError("UNSUPPORTED_MEDIA_TYPE", "only application/json bodies are accepted", 415),
  RangeNotSatisfiable: createError("RANGE_NOT_SATISFIABLE", "%s", 416),
  IdempotencyKeyReused: createError("IDEMPOTENCY_KEY_REUSED", "%s", 422),
  HeadersTooLarge: createError("HEADERS_TOO_LARGE", "the request headers are too large", 431),
  Internal: createError("INTERNAL_ERROR", "internal error", 500),
  StreamUnavailable: createError("STREAM_UNAVAILABLE", "the event stream (Redis) is unavailable; retry later", 503),
  DatabaseUnavailable: createError("DATABASE_UNAVAILABLE", "the database is unavailable; retry later", 503),
  NotReplicated: createError("NOT_REPLICATED", "%s", 503),
  Overloaded: createError("OVERLOADED", "the gateway is overloaded; retry later", 503),
  ShuttingDown: createError("SHUTTING_DOWN", "the gateway is shutting down; retry on another instance", 503),
  ConsoleNotBuilt: createError(
    "CONSOLE_NOT_BUILT",
    "the console is not built into this gateway: run `npm run build` (it writes dist/console)",
    404,
  ),
} as const;

const CATALOGUE = new Set<string>(Object.values(errors).map((make) => new make().code));

/** The catalogue entry a client error of another origin (Fastify, a plugin) is answered as, by status. */
const BY_STATUS: Record<number, (message: string) => DetailedError> = {
  400: (m) => new errors.InvalidRequest(m),
  403: (m) => Object.assign(new errors.Forbidden(), { message: m }),
  404: (m) => new errors.NotFound(m),
  408: (m) => new errors.RequestTimeout(m),
  412: (m) => new errors.PreconditionFailed(m),
  414: (m) => new errors.UriTooLong(m),
  416: (m) => new errors.RangeNotSatisfiable(m),
  431: () => new errors.HeadersTooLarge(),
};

/** Attaches JSON-pointer details to a catalogue error. */
export function withDetails<E extends DetailedError>(error: E, details: ErrorDetail[]): E {
  error.details = details;
  return error;
}

/** A service the process cannot start without; server.ts prints its message as one line. */
export class StartupError extends Error {
  override name = "StartupError";
}

/** Postgres/Redis connection failures surface as 503 with Retry-After instead of 500. */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "57P01",
  "57P03",
]);

/** Details shown at most; hostile input could otherwise make an answer larger than its request. */
export const MAX_DETAILS = 20;
const MAX_TEXT = 512;

const clip = (text: string) => (text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT)}…`);

/** The shared body of an error: details capped at MAX_DETAILS plus one entry counting the rest. */
export function errorBody(error: DetailedError): ErrorBody {
  const { statusCode = 500, code = "INTERNAL_ERROR", message, details = [], omitted = 0 } = error;
  const body: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? "Error", message: clip(message) };
  if (details.length > 0) {
    body.details = details.slice(0, MAX_DETAILS).map((d) => ({ path: clip(d.path), message: clip(d.message) }));
    const more = Math.max(0, details.length - MAX_DETAILS) + omitted;
    if (more > 0) body.details.push({ path: "/", message: `${more} more problem${more === 1 ? "" : "s"} not shown` });
  }
  return body;
}

/**
 * A Redis failure as an API error. A reply error about the command's arguments (an id Redis
 * cannot parse) was caused by the request's data: 400. Anything else (no connection, a Redis
 * that is loading, out of memory or read-only) is the stream being unavailable: 503.
 */
export function redisFailure(cause: unknown): DetailedError {
  const { name, message = "" } = (cause ?? {}) as { name?: string; message?: string };
  if (name === "ReplyError" && /^ERR .*(invalid|syntax|out of range|not an integer)/i.test(message)) {
    return new errors.InvalidRequest(`Redis refused a value of the request: ${message.slice(4)}`);
  }
  return new errors.StreamUnavailable({ cause });
}

/** One problem a schema validator (Ajv) reported; the shape Fastify hands on as `error.validation`. */
export interface SchemaProblem {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** A `meta.schema_version` that is a whole number but not one this gateway accepts. */
function isUnsupportedVersion(v: SchemaProblem): boolean {
  return v.keyword === "enum" && v.instancePath.endsWith("/meta/schema_version");
}

/**
 * Ajv problems as JSON-pointer details below `prefix`, the first MAX_DETAILS only: a missing or
 * unknown key is named in the path itself.
 */
export function problemDetails(problems: readonly SchemaProblem[], prefix = ""): ErrorDetail[] {
  return problems.slice(0, MAX_DETAILS).map((v) => {
    const missing = (v.params as { missingProperty?: string }).missingProperty;
    const extra = (v.params as { additionalProperty?: string }).additionalProperty;
    const path = prefix + v.instancePath + (missing ? `/${missing}` : extra ? `/${extra}` : "");
    const message = extra ? "is not allowed" : missing ? "is required" : (v.message ?? "is invalid");
    return { path: path || "/", message };
  });
}

/** The detail saying that a value too large to check in full was checked up to its first problem. */
export const PARTIAL_CHECK: ErrorDetail = {
  path: "/",
  message: "not checked further: only the first problem of a body this large is reported",
};

/**
 * A schema validation failure of a request part (`context`: body, querystring, …) as the catalogue
 * error it is answered with: UNSUPPORTED_SCHEMA_VERSION when the envelope's version is the only
 * problem, else `code`. `partial`: the validator stopped at the first problem (schemas/validators.ts).
 */
export function schemaViolation(
  problems: readonly SchemaProblem[],
  context: string,
  code: "INVALID_ENVELOPE" | "INVALID_REQUEST",
  partial = false,
): DetailedError {
  const details = problemDetails(problems);
  if (partial) details.push(PARTIAL_CHECK);
  const first = details[0]!;
  const text = `${context}${first.path === "/" ? "" : first.path} ${first.message}`;
  if (problems.every(isUnsupportedVersion)) {
    const supported = `is not supported; supported versions: ${SUPPORTED_SCHEMA_VERSIONS.join(", ")}`;
    const versions = details.map(({ path }) => ({ path, message: supported }));
    return withDetails(new errors.UnsupportedSchemaVersion(`body${first.path} ${supported}`), versions);
  }
  const make = code === "INVALID_ENVELOPE" ? errors.InvalidEnvelope : errors.InvalidRequest;
  const result: DetailedError = withDetails(new make(text), details);
  result.omitted = Math.max(0, problems.length - MAX_DETAILS);
  return result;
}

function validationError(error: FastifyError, request: FastifyRequest): DetailedError {
  const problems = error.validation!;
  // Validators stop at the first problem of a body too large to check in full (schemas/validators.ts).
  const partial = (problems as { partial?: boolean }).partial === true;
  const code = request.routeOptions.config.validationCode ?? "INVALID_REQUEST";
  return schemaViolation(problems, error.validationContext ?? "request", code, partial);
}

/** Maps any error a request can end with onto a catalogue entry. */
export function toApiError(error: FastifyError & DetailedError, request: FastifyRequest): ErrorBody {
  if (error.validation) return errorBody(validationError(error, request));
  const cause = (error.cause ?? error) as { code?: string };
  const causeCode = (error.cause as { cause?: { code?: string } } | undefined)?.cause?.code ?? cause.code;
  if (error.statusCode === undefined) {
    if (causeCode !== undefined && UNAVAILABLE_CODES.has(causeCode)) return errorBody(new errors.DatabaseUnavailable());
    // SQLSTATE class 22, data exception: a value of the request Postgres cannot store (NUL in text, …).
    if (causeCode !== undefined && /^22[0-9A-Z]{3}$/.test(causeCode)) {
      const why = (error.cause as { message?: string } | undefined)?.message ?? "invalid value";
      return errorBody(new errors.InvalidRequest(`a value of the request cannot be stored: ${why}`));
    }
    if (error.name === "ReplyError") return errorBody(redisFailure(error));
  }
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return errorBody(new errors.BodyTooLarge(request.routeOptions.bodyLimit));
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return errorBody(new errors.UnsupportedMediaType());
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return errorBody(new errors.InvalidJson(error.message));
    case "FST_ERR_MAX_PARAM_LENGTH":
      return errorBody(new errors.UriTooLong(`a path parameter is longer than ${MAX_PATH_PARAM_LENGTH} characters`));
  }
  const status = error.statusCode ?? 500;
  if (status >= 500 && status !== 503) return errorBody(new errors.Internal());
  if (error.code !== undefined && CATALOGUE.has(error.code)) return errorBody(error);
  if (status === 503) return errorBody(new errors.StreamUnavailable());
  return errorBody(withDetails((BY_STATUS[status] ?? BY_STATUS[400]!)(error.message), error.details ?? []));
}

/** What a client must do about a 401 or 403 (RFC 6750 §3). */
export function challenge(body: ErrorBody, reply: FastifyReply): void {
  if (body.statusCode === 401) reply.header("www-authenticate", "Bearer");
  else if (body.code === "FORBIDDEN") reply.header("www-authenticate", 'Bearer error="insufficient_scope"');
}

/** Fields of driver errors that hold request data (SQL parameters, rows): never logged. */
const UNLOGGED = new Set(["parameters", "params", "query", "args", "detail", "where", "types"]);

/**
 * An error as it may be logged. A DrizzleQueryError's message and stack embed the SQL parameters
 * (request data, secrets), so it is replaced by its driver cause; driver fields holding data go.
 */
export function loggable(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error) || depth > 4) return err;
  const failedQuery = "params" in err && err.message.startsWith("Failed query:");
  const source = failedQuery ? ((err.cause as Error | undefined) ?? new Error("query failed")) : err;
  const message = failedQuery ? `database query failed: ${source.message}` : source.message;
  const out: Record<string, unknown> = { type: failedQuery ? "DatabaseQueryError" : source.name, message };
  out["stack"] = `${out["type"]}: ${message}\n${(source.stack ?? "").split("\n").slice(1).join("\n")}`;
  for (const [key, value] of Object.entries(source)) {
    if (!UNLOGGED.has(key) && key !== "cause" && key !== "message" && key !== "stack") out[key] = value;
  }
  if (source.cause !== undefined) out["cause"] = loggable(source.cause, depth + 1);
  return out;
}

/** Answers every error and unknown route in the shared shape; 5xx are logged, 503 carries Retry-After. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(async (error: FastifyError & DetailedError, request, reply) => {
    const body = toApiError(error, request);
    if (body.statusCode >= 500) request.log.error({ err: loggable(error) }, "request failed");
    if (body.statusCode === 503) reply.header("retry-after", "5");
    challenge(body, reply);
    return reply.code(body.statusCode).send(body);
  });
  app.setNotFoundHandler(async (request, reply) =>
    reply.code(404).send(errorBody(new errors.NotFound(`no route ${request.method} ${request.url.split("?")[0]}`))),
  );
}

/** Fastify's own routing errors (a path parameter over maxParamLength, a malformed URL), in the shared shape. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const body = toApiError(error, request);
  void reply.code(body.statusCode).send(body);
}
