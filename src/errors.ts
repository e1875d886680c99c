/**
 * The error catalogue: every error a client can see, with its code and status in one line.
 * Bodies take the shared shape `{ statusCode, code, error, message, details? }` (see app.ts).
 */
import createError from "@fastify/error";

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
  InvalidEnvelope: createError("INVALID_ENVELOPE", "%s", 400),
  InvalidRequest: createError("INVALID_REQUEST", "%s", 400),
  UnsupportedSchemaVersion: createError("UNSUPPORTED_SCHEMA_VERSION", "%s", 400),
  PayloadTooDeep: createError("PAYLOAD_TOO_DEEP", "%s", 400),
  BatchTooLarge: createError("BATCH_TOO_LARGE", "a batch holds at most %s events", 400),
  DuplicateEventId: createError("DUPLICATE_EVENT_ID", "%s", 400),
  EnvelopeTooLarge: createError("ENVELOPE_TOO_LARGE", "%s", 413),
  IdempotencyKeyReused: createError("IDEMPOTENCY_KEY_REUSED", "%s", 422),
  Conflict: createError("CONFLICT", "%s", 409),
  UrlNotAllowed: createError("URL_NOT_ALLOWED", "%s", 400),
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
