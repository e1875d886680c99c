/**
 * The error catalogue: every error code the API answers, with its status in one line, and the
 * mapping of any error (ours, Fastify's, a driver's) onto the shared body
 * `{ statusCode, code, error, message, details? }` (docs/CONTRACT.md §3).
 */
import createError from "@fastify/error";
import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import { STATUS_CODES } from "node:http";
import type { ErrorBody } from "./schemas/common.js";

export interface ErrorDetail {
  path: string;
  message: string;
}

/** An error that carries JSON-pointer details for the response body. */
export interface DetailedError extends Error {
  statusCode?: number;
  code?: string;
  details?: ErrorDetail[];
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
  DuplicateEventId: createError("DUPLICATE_EVENT_ID", "%s", 400),
  UrlNotAllowed: createError("URL_NOT_ALLOWED", "%s", 400),
  Conflict: createError("CONFLICT", "%s", 409),
  BodyTooLarge: createError("BODY_TOO_LARGE", "the request body is larger than %s bytes", 413),
  EnvelopeTooLarge: createError("ENVELOPE_TOO_LARGE", "%s", 413),
  UnsupportedMediaType: createError("UNSUPPORTED_MEDIA_TYPE", "only application/json bodies are accepted", 415),
  IdempotencyKeyReused: createError("IDEMPOTENCY_KEY_REUSED", "%s", 422),
  Internal: createError("INTERNAL_ERROR", "internal error", 500),
  StreamUnavailable: createError("STREAM_UNAVAILABLE", "the event stream (Redis) is unavailable; retry later", 503),
  DatabaseUnavailable: createError("DATABASE_UNAVAILABLE", "the database is unavailable; retry later", 503),
  Overloaded: createError("OVERLOADED", "the gateway is overloaded; retry later", 503),
} as const;

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

/** The shared body of an error. */
export function errorBody(error: DetailedError): ErrorBody {
  const { statusCode = 500, code = "INTERNAL_ERROR", message, details } = error;
  const body: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? "Error", message };
  if (details && details.length > 0) body.details = details;
  return body;
}

/** A schema validation failure, with every violation as a JSON-pointer detail. */
function validationError(error: FastifyError, request: FastifyRequest): DetailedError {
  const details = error.validation!.map((v) => {
    const missing = (v.params as { missingProperty?: string }).missingProperty;
    const extra = (v.params as { additionalProperty?: string }).additionalProperty;
    const path = v.instancePath + (missing ? `/${missing}` : extra ? `/${extra}` : "");
    const message = extra ? "is not allowed" : missing ? "is required" : (v.message ?? "is invalid");
    return { path: path || "/", message };
  });
  const first = details[0]!;
  const text = `${error.validationContext ?? "request"}${first.path === "/" ? "" : first.path} ${first.message}`;
  const make =
    request.routeOptions.config.validationCode === "INVALID_ENVELOPE" ? errors.InvalidEnvelope : errors.InvalidRequest;
  return withDetails(new make(text), details);
}

/** Maps any error a request can end with onto a catalogue error (or a 4xx Fastify already classified). */
export function toApiError(error: FastifyError & DetailedError, request: FastifyRequest): ErrorBody {
  if (error.validation) return errorBody(validationError(error, request));
  const cause = (error.cause ?? error) as { code?: string };
  const causeCode = (error.cause as { cause?: { code?: string } } | undefined)?.cause?.code ?? cause.code;
  if (error.statusCode === undefined && causeCode !== undefined && UNAVAILABLE_CODES.has(causeCode)) {
    return errorBody(new errors.DatabaseUnavailable());
  }
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return errorBody(new errors.BodyTooLarge(request.routeOptions.bodyLimit));
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return errorBody(new errors.UnsupportedMediaType());
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return errorBody(new errors.InvalidJson(error.message));
  }
  const status = error.statusCode ?? 500;
  if (status >= 500 && status !== 503) return errorBody(new errors.Internal());
  const code = error.code ?? STATUS_CODES[status]?.toUpperCase().replaceAll(" ", "_") ?? "ERROR";
  return errorBody({ name: error.name, statusCode: status, code, message: error.message, details: error.details });
}

/** Answers every error and unknown route in the shared shape; 5xx are logged, 503 carries Retry-After. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(async (error: FastifyError & DetailedError, request, reply) => {
    const body = toApiError(error, request);
    if (body.statusCode >= 500) request.log.error({ err: error }, "request failed");
    if (body.statusCode === 503) reply.header("retry-after", "5");
    return reply.code(body.statusCode).send(body);
  });
  app.setNotFoundHandler(async (request, reply) =>
    reply.code(404).send(errorBody(new errors.NotFound(`no route ${request.method} ${request.url.split("?")[0]}`))),
  );
}
