/**
 * The application: HTTP surface (schemas, errors, docs, routes) and the services behind it.
 * `server.ts` is the process around it; tests build it directly. docs/ARCHITECTURE.md draws the
 * layers and the path of one event.
 */
import Fastify, { type FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { Config } from "./config.js";
import { frameworkErrors, installErrorHandling } from "./errors.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { authHook } from "./plugins/auth.js";
import { childLoggerFactory, installServerHooks, loggerOptions, serverOptions } from "./plugins/http-server.js";
import dbPlugin from "./plugins/db.js";
import dispatcherPlugin from "./plugins/dispatcher.js";
import consolePlugin from "./plugins/console.js";
import docsPlugin from "./plugins/docs.js";
import eventTailPlugin from "./plugins/event-tail.js";
import eventTypesPlugin from "./plugins/event-types.js";
import ingestMetricsPlugin from "./plugins/ingest-metrics.js";
import ledgerRetentionPlugin from "./plugins/ledger-retention.js";
import loadSheddingPlugin from "./plugins/load-shedding.js";
import redisPlugin from "./plugins/redis.js";
import replaysPlugin from "./plugins/replays.js";
import trimmerPlugin from "./plugins/trimmer.js";
import typeVolumePlugin from "./plugins/type-volume.js";
import { installValidators } from "./plugins/validation.js";
import webhookClientPlugin from "./plugins/webhook-client.js";
import activityRoutes from "./routes/activity.js";
import deliveryRoutes from "./routes/deliveries.js";
import eventBrowseRoutes from "./routes/event-browse.js";
import eventTailRoutes from "./routes/event-tail.js";
import eventTypeVolumeRoutes from "./routes/event-type-volume.js";
import eventTypeRoutes from "./routes/event-types.js";
import eventRoutes from "./routes/events.js";
import healthRoutes from "./routes/health.js";
import metricsRoutes from "./routes/metrics.js";
import replayRoutes from "./routes/replays.js";
import subscriberRoutes from "./routes/subscribers.js";
import { ErrorBody, Liveness, MAX_PATH_PARAM_LENGTH, Readiness } from "./schemas/common.js";
import {
  Accepted,
  BatchAccepted,
  batchRequest,
  BatchResult,
  EventEnvelope,
  EventPage,
  StoredEvent,
} from "./schemas/envelope.js";
import { EVENT_BROWSE_COMPONENTS } from "./schemas/event-browse.js";
import { EVENT_TYPE_COMPONENTS } from "./schemas/event-type.js";
import { ACTIVITY_COMPONENTS } from "./schemas/delivery-activity.js";
import { DeadLetterPage } from "./schemas/pages.js";
import { REPLAY_COMPONENTS } from "./schemas/replay.js";
import { SUBSCRIBER_COMPONENTS } from "./schemas/subscriber.js";
import { checkDurability } from "./stream/durability.js";

declare module "fastify" {
  interface FastifyInstance {
    config: Config;
    metrics: Metrics;
  }
  interface FastifyContextConfig {
    /** The error code of a schema validation failure on this route (default INVALID_REQUEST). */
    validationCode?: "INVALID_ENVELOPE" | "INVALID_REQUEST";
  }
}

/** Registered once; routes `$ref` them and the OpenAPI document lists them as components. */
const components = (config: Config) => [
  ErrorBody,
  EventEnvelope,
  batchRequest(config.maxBatch),
  Accepted,
  BatchResult,
  BatchAccepted,
  StoredEvent,
  EventPage,
  ...EVENT_BROWSE_COMPONENTS,
  ...EVENT_TYPE_COMPONENTS,
  ...SUBSCRIBER_COMPONENTS,
  DeadLetterPage,
  ...ACTIVITY_COMPONENTS,
  ...REPLAY_COMPONENTS,
  Liveness,
  Readiness,
];

/** Creates the Fastify instance with the options every entry point shares. */
export function createFastify(config: Config, logger: boolean | object = { level: config.logLevel }) {
  const app = Fastify({
    ...serverOptions(config),
    logger: loggerOptions(logger),
    childLoggerFactory: childLoggerFactory(),
    bodyLimit: config.maxBodyBytes,
    forceCloseConnections: "idle",
    // A payload key `__proto__` or `constructor` is data: JSON.parse keeps it as an own property and
    // nothing here assigns it onto an object, so refusing such bodies protected nothing.
    onProtoPoisoning: "ignore",
    onConstructorPoisoning: "ignore",
    frameworkErrors,
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // The response serializer tells union branches apart with its own Ajv: it need not check this format.
    serializerOpts: { ajv: { formats: { "stream-id": true } } },
    // The message is rebuilt from the first problems (errors.ts); joining all of them is wasted work.
    schemaErrorFormatter: (problems, dataVar) => new Error(`${dataVar}${problems[0]?.instancePath ?? ""} is invalid`),
  });
  installServerHooks(app, config.maxBodyBytes);
  return app.withTypeProvider<TypeBoxTypeProvider>();
}

/** Registers schemas, error handling, docs and routes: everything the OpenAPI document shows. */
export async function registerHttp(app: FastifyInstance): Promise<void> {
  installValidators(app, components(app.config));
  app.decorateRequest("credentialId", "");
  app.removeContentTypeParser(["text/plain"]);
  installErrorHandling(app);
  // Shedding first: its onRequest hook must cover every route registered after it.
  await app.register(loadSheddingPlugin);
  await app.register(docsPlugin);
  await app.register(consolePlugin);
  // After docs (so /metrics is in the OpenAPI document), before the routes it instruments.
  await app.register(ingestMetricsPlugin);
  await app.register(metricsRoutes);
  await app.register(healthRoutes);
  await app.register(
    async (v1) => {
      v1.addHook("onRequest", authHook(app.config.tokens));
      await v1.register(eventRoutes);
      await v1.register(eventBrowseRoutes);
      await v1.register(eventTailRoutes);
      await v1.register(eventTypeVolumeRoutes);
      await v1.register(eventTypeRoutes);
      await v1.register(subscriberRoutes);
      await v1.register(deliveryRoutes);
      await v1.register(activityRoutes);
      await v1.register(replayRoutes);
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
    await checkDurability(app.redis, app.log, config.mode);
    await app.register(eventTypesPlugin);
    await app.register(dbPlugin, { config });
    await app.register(webhookClientPlugin);
    await app.register(typeVolumePlugin);
    await registerHttp(app);
    await app.register(trimmerPlugin);
    await app.register(ledgerRetentionPlugin);
    // Delivery (role all|dispatcher) registers here.
    if (config.role !== "api") {
      await app.register(dispatcherPlugin);
      await app.register(replaysPlugin);
    }
    await app.register(eventTailPlugin);
    await app.ready();
  } catch (err) {
    await app.close().catch(() => {});
    throw err;
  }
  return app;
}
