/**
 * The application: HTTP surface (schemas, errors, docs, routes) and the services behind it.
 * `server.ts` is the process around it; tests build it directly.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { STATUS_CODES } from "node:http";
import type { Config } from "./config.js";
import type { DetailedError, ErrorDetail } from "./errors.js";
import { authHook } from "./plugins/auth.js";
import dbPlugin from "./plugins/db.js";
import dispatcherPlugin from "./plugins/dispatcher.js";
import docsPlugin from "./plugins/docs.js";
import redisPlugin from "./plugins/redis.js";
import eventRoutes from "./routes/events.js";
import redeliverRoutes from "./routes/redeliver.js";
import subscriberRoutes from "./routes/subscribers.js";
import healthRoutes from "./routes/health.js";
import loadSheddingPlugin from "./plugins/load-shedding.js";
import metricsPlugin from "./plugins/metrics.js";
import trimmerPlugin from "./plugins/trimmer.js";
import { warnIfNotDurable } from "./stream/durability.js";
import { ErrorBody } from "./schemas/common.js";
import { Accepted, BatchAccepted, BatchRequest, EventEnvelope, EventPage, StoredEvent } from "./schemas/envelope.js";
import { SUBSCRIBER_COMPONENTS } from "./schemas/subscriber.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { installValidators } from "./validation.js";

declare module "fastify" {
  interface FastifyInstance {
    config: Config;
    metrics: Metrics;
  }
  interface FastifyContextConfig {
    /** The error code of a schema validation failure on this route (default INVALID_REQUEST). */
    validationCode?: string;
  }
}

/** Registered once; routes `$ref` them and the OpenAPI document lists them as components. */
const COMPONENTS = [ErrorBody, EventEnvelope, BatchRequest, Accepted, BatchAccepted, StoredEvent, EventPage, ...SUBSCRIBER_COMPONENTS];

/** Postgres/Redis connection failures surface as 503 with Retry-After instead of 500. */
const UNAVAILABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "57P01", "57P03"]);

function errorBody(statusCode: number, code: string, message: string, details?: ErrorDetail[]): ErrorBody {
  const body: ErrorBody = { statusCode, code, error: STATUS_CODES[statusCode] ?? "Error", message };
  if (details && details.length > 0) body.details = details;
  return body;
}

function toErrorBody(error: FastifyError & DetailedError, request: FastifyRequest): ErrorBody {
  if (error.validation) {
    const details = error.validation.map((v) => {
      const missing = (v.params as { missingProperty?: string }).missingProperty;
      const extra = (v.params as { additionalProperty?: string }).additionalProperty;
      const path = v.instancePath + (missing ? `/${missing}` : extra ? `/${extra}` : "");
      const message = extra ? "is not allowed" : missing ? "is required" : (v.message ?? "is invalid");
      return { path: path || "/", message };
    });
    const code = request.routeOptions.config.validationCode ?? "INVALID_REQUEST";
    const where = error.validationContext ?? "request";
    return errorBody(400, code, `${where}${details[0]!.path === "/" ? "" : details[0]!.path} ${details[0]!.message}`, details);
  }
  const cause = (error.cause ?? error) as { code?: string };
  const causeCode = (error.cause as { cause?: { code?: string } } | undefined)?.cause?.code ?? cause.code;
  if (error.statusCode === undefined && causeCode !== undefined && UNAVAILABLE_CODES.has(causeCode)) {
    return errorBody(503, "DATABASE_UNAVAILABLE", "the database is unavailable; retry later");
  }
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return errorBody(413, "BODY_TOO_LARGE", `the request body is larger than ${request.routeOptions.bodyLimit} bytes`);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return errorBody(415, "UNSUPPORTED_MEDIA_TYPE", "only application/json bodies are accepted");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return errorBody(400, "INVALID_JSON", error.message);
  }
  const status = error.statusCode ?? 500;
  if (status >= 500 && status !== 503) return errorBody(status, "INTERNAL_ERROR", "internal error");
  return errorBody(status, error.code ?? STATUS_CODES[status]?.toUpperCase().replaceAll(" ", "_") ?? "ERROR", error.message, error.details);
}

/** Creates the Fastify instance with the options every entry point shares. */
export function createFastify(config: Config, logger: boolean | object = { level: config.logLevel }) {
  return Fastify({
    logger,
    bodyLimit: config.maxBodyBytes,
    return503OnClosing: true,
    forceCloseConnections: "idle",
  }).withTypeProvider<TypeBoxTypeProvider>();
}

/** Registers schemas, error handling, docs and routes: everything the OpenAPI document shows. */
export async function registerHttp(app: FastifyInstance): Promise<void> {
  installValidators(app, COMPONENTS);
  app.removeContentTypeParser(["text/plain"]);
  app.setErrorHandler(async (error: FastifyError & DetailedError, request, reply: FastifyReply) => {
    const body = toErrorBody(error, request);
    if (body.statusCode >= 500) request.log.error({ err: error }, "request failed");
    if (body.statusCode === 503) reply.header("retry-after", "5");
    return reply.code(body.statusCode).send(body);
  });
  app.setNotFoundHandler(async (request, reply) =>
    reply.code(404).send(errorBody(404, "NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`)),
  );
  // Shedding first: its onRequest hook must cover every route registered after it.
  await app.register(loadSheddingPlugin);
  await app.register(docsPlugin);
  // After docs (so /metrics is in the OpenAPI document), before the routes it instruments.
  await app.register(metricsPlugin);
  await app.register(healthRoutes);
  await app.register(
    async (v1) => {
      v1.addHook("onRequest", authHook(app.config.tokens));
      await v1.register(eventRoutes);
      await v1.register(subscriberRoutes);
      await v1.register(redeliverRoutes);
    },
    { prefix: "/v1" },
  );
}

/** Builds the whole gateway: Redis and Postgres (per BRAIN_EVENTSTREAM_MODE), then the HTTP surface. */
export async function build(config: Config, logger?: boolean | object): Promise<FastifyInstance> {
  const app = createFastify(config, logger) as unknown as FastifyInstance;
  app.decorate("config", config);
  app.decorate("metrics", createMetrics());
  try {
    await app.register(redisPlugin, { config });
    if (config.mode === "required") await warnIfNotDurable(app.redis, app.log);
    await app.register(dbPlugin, { config });
    await registerHttp(app);
    await app.register(trimmerPlugin);
    // Delivery (role all|dispatcher) registers here.
    if (config.role !== "api") await app.register(dispatcherPlugin);
    await app.ready();
  } catch (err) {
    await app.close().catch(() => {});
    throw err;
  }
  return app;
}
