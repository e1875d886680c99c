/**
 * The in-process publisher: `createEventPublisher` appends events from inside an application,
 * through the same path as POST /v1/events and /v1/events/batch. The event is serialized and
 * parsed as a request body would be, checked by the same compiled envelope schema
 * (schemas/validators.ts), then handed to the same ingest functions (ingest.ts: size, depth,
 * numbers, the registry's payload schemas, idempotency, the one XADD module). So it accepts what
 * HTTP accepts, stores the same bytes, and throws what HTTP answers: the same statusCode, code,
 * message and details. Idempotency keys are scoped to the credential "" (stream/publisher.ts).
 *
 * Defaults come from the server's environment variables (config.ts, loadPublisherConfig). ADR-001
 * applies: in `required` mode `start()` (and so the first publish) rejects while Redis cannot be
 * reached; in `degraded` mode publishing rejects with STREAM_UNAVAILABLE (503) until Redis is
 * back. Nothing is ever dropped silently.
 */
import type { EventSchemas, PublishableEvent } from "../catalog/types.js";
import { loadPublisherConfig, maskUrl, type PublisherConfig } from "../config.js";
import { errorBody, errors, schemaViolation, StartupError, type ErrorDetail } from "../errors.js";
import { ref } from "../schemas/common.js";
import { batchRequest, envelopeRef, EventEnvelope } from "../schemas/envelope.js";
import { toJsonSchema2020 } from "../schemas/json-schema.js";
import { SchemaValidators, type BoundedValidate } from "../schemas/validators.js";
import { closeConnection, requestConnection } from "../stream/connections.js";
import { layout } from "../stream/keys.js";
import { checkPartitionCount } from "../stream/layout.js";
import { Publisher, type PublishResult } from "../stream/publisher.js";
import { batchTooLarge, ingestBatch, ingestOne, type IngestContext } from "./ingest.js";
import { admitSchema, type PayloadSchema } from "./payload-schemas.js";
import { EventTypeRegistry } from "./registry.js";

export interface EventPublisherOptions<C extends EventSchemas | undefined = undefined> {
  /** Default: REDIS_URL, as the gateway reads it. */
  redisUrl?: string;
  /** Default: BRAIN_STREAM. */
  stream?: string;
  /** Types `publish` by the catalog, and holds every event to its payload schemas too. */
  catalog?: C;
  /** Where the defaults are read (BRAIN_EVENTSTREAM_MODE, BRAIN_MAX_* …); default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Where an event was appended, or had been: `replayed` when its id was accepted in the last 24 h. */
export interface PublishedEvent {
  id: string;
  stream_message_id: string;
  replayed: boolean;
}

export interface EventPublisher<C extends EventSchemas | undefined = undefined> {
  /** Connects to Redis and loads the event-type registry; `publish` calls it first. */
  start(): Promise<void>;
  /** Appends one event as POST /v1/events would; throws EventPublishError where HTTP answers an error. */
  publish(event: PublishableEvent<C>): Promise<PublishedEvent>;
  /** Appends events atomically and in order as POST /v1/events/batch would; all or nothing. */
  publishBatch(events: readonly PublishableEvent<C>[]): Promise<PublishedEvent[]>;
  /** Stops polling the registry and closes the Redis connection; later publishes throw. */
  close(): Promise<void>;
}

/** A refused publish: the error body POST /v1/events would have answered. */
export class EventPublishError extends Error {
  override name = "EventPublishError";
  readonly statusCode: number;
  readonly code: string;
  readonly details: ErrorDetail[];

  constructor(cause: Error) {
    const body = errorBody(cause);
    super(body.message, { cause });
    this.statusCode = body.statusCode;
    this.code = body.code;
    this.details = body.details ?? [];
  }
}

/** An error HTTP would answer from the catalogue; anything else (a bug) is thrown as it is. */
const asPublishError = (err: unknown): unknown =>
  err instanceof Error && typeof (err as { statusCode?: unknown }).statusCode === "number"
    ? new EventPublishError(err)
    : err;

/** The catalog's payload schemas, compiled as the registry would compile them once registered. */
function compileCatalog(catalog: EventSchemas): Map<string, PayloadSchema> {
  const compiled = new Map<string, PayloadSchema>();
  for (const [type, schema] of Object.entries(catalog)) {
    const json = toJsonSchema2020(schema);
    try {
      compiled.set(type, admitSchema(json, JSON.stringify(json)));
    } catch (err) {
      throw new TypeError(`the catalog's payload schema of "${type}" cannot be used: ${(err as Error).message}`);
    }
  }
  return compiled;
}

/** A value as the JSON body a client would send for it, parsed back as the gateway parses it. */
function asRequestBody(value: unknown, config: PublisherConfig): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new errors.InvalidJson(`the event is not JSON: ${(err as Error).message}`);
  }
  if (text === undefined) throw new errors.InvalidJson("the event is not JSON: nothing to send");
  if (Buffer.byteLength(text) > config.maxBodyBytes) throw new errors.BodyTooLarge(config.maxBodyBytes);
  return JSON.parse(text);
}

/**
 * An in-process publisher. Configuration errors (a bad environment, a catalog schema the registry
 * would refuse) throw here; connecting waits for `start()` or the first publish.
 */
export function createEventPublisher<C extends EventSchemas | undefined = undefined>(
  options: EventPublisherOptions<C> = {},
): EventPublisher<C> {
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env) };
  if (options.redisUrl !== undefined) env["REDIS_URL"] = options.redisUrl;
  if (options.stream !== undefined) env["BRAIN_STREAM"] = options.stream;
  const config = loadPublisherConfig(env);
  const catalog = options.catalog === undefined ? undefined : compileCatalog(options.catalog);

  const redis = requestConnection(config.redisUrl, config.redisMode);
  let lastError: Error | undefined;
  redis.on("error", (err: Error) => (lastError = err));
  const keys = layout(config);
  const registry = new EventTypeRegistry(redis, keys);
  const ctx: IngestContext = {
    publisher: new Publisher(redis, keys, {
      partitions: config.streamPartitions,
      minReplicas: config.redisMinReplicas,
    }),
    limits: { maxEnvelopeBytes: config.maxEnvelopeBytes, maxBatch: config.maxBatch },
    types: { registry, requireRegistered: config.requireRegisteredTypes, catalog },
  };
  let validators: { one: BoundedValidate; batch: BoundedValidate } | undefined;
  let started: Promise<void> | undefined;
  let closed: Promise<void> | undefined;

  /** The envelope checks of the HTTP routes: the same components, the same compiled schemas. */
  const validate = (body: unknown, which: "one" | "batch"): void => {
    if (validators === undefined) {
      const batch = batchRequest(config.maxBatch);
      const compiled = new SchemaValidators([EventEnvelope, batch]);
      validators = { one: compiled.body(envelopeRef), batch: compiled.body(ref(batch)) };
    }
    const check = validators[which];
    if (!check(body)) throw schemaViolation(check.errors!, "body", "INVALID_ENVELOPE", check.errors!.partial);
  };

  const connect = async (): Promise<void> => {
    try {
      await redis.connect();
    } catch (err) {
      if (config.mode === "required") {
        redis.disconnect();
        throw new StartupError(
          `cannot reach Redis at ${maskUrl(config.redisUrl)} (${(lastError ?? (err as Error)).message}): start ` +
            "Redis or set REDIS_URL; the event stream is required (ADR-001)",
        );
      }
      // degraded: ioredis keeps reconnecting; publishing answers STREAM_UNAVAILABLE until then.
    }
    // The partition count must match the stream's (stream/layout.ts), in either mode once Redis answers.
    await checkPartitionCount(redis, keys, config.stream, config.stream).catch((err: Error) => {
      if (config.mode === "required" || err instanceof StartupError) throw err;
    });
    // Ingest loads the registry itself until one load succeeded (ingest/type-rules.ts).
    await registry.start().catch((err) => {
      if (config.mode === "required") throw err;
    });
  };

  const start = (): Promise<void> => {
    if (closed !== undefined) return Promise.reject(new Error("the event publisher is closed"));
    // A failed start is tried again by the next call: a required-mode publisher rejects until Redis answers.
    started ??= connect().catch((err) => {
      started = undefined;
      throw err;
    });
    return started;
  };

  const run = async <T>(work: () => Promise<T>): Promise<T> => {
    await start();
    try {
      return await work();
    } catch (err) {
      throw asPublishError(err);
    }
  };

  const published = (r: PublishResult): PublishedEvent => ({
    id: r.eventId,
    stream_message_id: r.streamMessageId,
    replayed: r.outcome === "replayed",
  });

  return {
    start,
    publish: (event) =>
      run(async () => {
        const body = asRequestBody(event, config);
        validate(body, "one");
        return published(await ingestOne(ctx, body as EventEnvelope, undefined, ""));
      }),
    publishBatch: (events) =>
      run(async () => {
        const body = asRequestBody({ events }, config) as { events: unknown };
        // As the route does: a batch over the limit is refused before any of its events is validated.
        if (Array.isArray(body.events) && body.events.length > config.maxBatch) {
          throw batchTooLarge(body.events.length, config.maxBatch);
        }
        validate(body, "batch");
        return (await ingestBatch(ctx, body.events as EventEnvelope[], "")).map(published);
      }),
    close: () =>
      (closed ??= (async () => {
        await started?.catch(() => {});
        await registry.stop();
        await ctx.publisher.close();
        await closeConnection(redis);
      })()),
  };
}
