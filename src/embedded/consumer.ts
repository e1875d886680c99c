/**
 * `createEventConsumer`: the Charter's EventConsumer for application code (docs/EVENT_SYSTEM.md).
 * It registers an internal consumer (kind `internal`, so no dispatcher delivers it), creates its
 * group once, and runs the same state machine as webhook delivery (consumer/event-consumer.ts):
 * dedup by (name, stream message id), PermanentError → dead letter + ACK, anything else → no ACK,
 * retried on the BRAIN_RETRY_SCHEDULE. Several processes may run the same consumer: they share
 * its group, each as its own consumer, and take over each other's entries after a crash.
 */
import type { FastifyBaseLogger } from "fastify";
import type { RedisClient } from "../stream/connections.js";
import { pino } from "pino";
import { Compile } from "typebox/compile";
import { Value } from "typebox/value";
import type { EventSchemas } from "../catalog/types.js";
import { loadConfig, maskUrl, type Config } from "../config.js";
import { PartitionedConsumer } from "../consumer/partitioned.js";
import { Redeliveries } from "../consumer/redeliveries.js";
import { PermanentError, type ConsumedEvent, type EventHandler } from "../consumer/types.js";
import { closeDb, connectDb, type Db } from "../db/client.js";
import { runMigrations } from "../db/migrate.js";
import { isSubscriberEnabled } from "../db/subscribers.js";
import { consumerName } from "../delivery/dispatcher.js";
import { EventTypePattern, SubscriberName } from "../schemas/subscriber.js";
import { closeConnection, deliveryConnection, pingRedis } from "../stream/connections.js";
import { layout } from "../stream/keys.js";
import { registerInternalConsumer } from "../subscribers/internal.js";
import type { ConsumerHandlers, EventConsumer, EventConsumerOptions } from "./types.js";

const RETRY_START_MS = 5000;
/** The admin API's limit on a subscriber's event_types. */
const MAX_PATTERNS = 100;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** The names the consumer is registered with: `*`, exact types and prefix patterns such as `mission.*`. */
function checkOptions(name: string, handlers: ConsumerHandlers): string[] {
  if (!Value.Check(SubscriberName, name)) {
    throw new TypeError(
      `consumer name "${name}" must be 1–63 characters of [a-z0-9_-], starting with a letter or digit`,
    );
  }
  const types = Object.keys(handlers);
  if (types.length === 0 || types.length > MAX_PATTERNS) {
    throw new TypeError(`a consumer needs 1–${MAX_PATTERNS} handlers`);
  }
  for (const t of types) {
    if (!Value.Check(EventTypePattern, t)) {
      throw new TypeError(`"${t}" is not an event type, a prefix pattern such as "mission.*", or "*"`);
    }
    if (typeof handlers[t] !== "function") throw new TypeError(`the handler for "${t}" is not a function`);
  }
  return types;
}

/**
 * Wraps the handlers so a payload of a catalog type is checked against its schema before the
 * handler sees it: an event that does not match can never be handled, so it is a permanent error.
 */
function checkedHandlers(handlers: ConsumerHandlers, catalog: EventSchemas | undefined) {
  const checkers = new Map(Object.entries(catalog ?? {}).map(([type, schema]) => [type, Compile(schema)]));
  return Object.fromEntries(
    Object.entries(handlers).map(([pattern, handler]): [string, EventHandler<unknown>] => [
      pattern,
      async (event: ConsumedEvent) => {
        const checker = checkers.get(event.event.type);
        if (checker !== undefined && !checker.Check(event.event.payload)) {
          const first = checker.Errors(event.event.payload)[0];
          const where = first ? `${first.instancePath || "/"} ${first.message}` : "";
          throw new PermanentError(`payload of ${event.event.type} does not match the catalog: ${where}`);
        }
        await handler(event as never);
      },
    ]),
  );
}

/**
 * A consumer that starts when asked. Defaults come from the server's environment variables
 * (REDIS_URL, DATABASE_URL, BRAIN_STREAM, BRAIN_EVENTSTREAM_MODE, BRAIN_RETRY_SCHEDULE,
 * BRAIN_CLAIM_IDLE_MS, LOG_LEVEL). ADR-001: in `required` mode start() rejects when Redis or
 * Postgres cannot be reached; in `degraded` mode it resolves at once, logs, and keeps trying.
 */
export function createEventConsumer<C extends EventSchemas>(options: EventConsumerOptions<C>): EventConsumer;
export function createEventConsumer(options: EventConsumerOptions): EventConsumer;
export function createEventConsumer(options: EventConsumerOptions<EventSchemas> | EventConsumerOptions): EventConsumer {
  const { name, handlers, catalog } = options;
  const types = checkOptions(name, handlers as ConsumerHandlers);
  const wrapped = checkedHandlers(handlers as ConsumerHandlers, catalog);
  let started: Promise<void> | null = null;
  let stopping = false;
  let consumer: PartitionedConsumer<unknown> | null = null;
  let redeliveries: Redeliveries | null = null;
  let redis: RedisClient | null = null;
  let db: Db | null = null;

  async function connect(config: Config, log: FastifyBaseLogger): Promise<void> {
    const redisUrl = options.redisUrl ?? config.redisUrl;
    const databaseUrl = options.databaseUrl ?? config.databaseUrl;
    const stream = options.stream ?? config.stream;
    try {
      await pingRedis(redis!);
    } catch (err) {
      throw new Error(`cannot reach Redis at ${maskUrl(redisUrl)} (${(err as Error).message})`);
    }
    try {
      await runMigrations(databaseUrl);
    } catch (err) {
      throw new Error(`cannot reach Postgres at ${maskUrl(databaseUrl)} (${(err as Error).message})`);
    }
    const keys = layout({ ...config, stream });
    await registerInternalConsumer(db!, redis!, keys, {
      name,
      eventTypes: types,
      description: options.description ?? null,
      startFrom: options.startFrom ?? "latest",
    });
    if (stopping) return;
    consumer = new PartitionedConsumer<unknown>({
      redis: redis!,
      db: db!,
      keys,
      subscriber: name,
      consumer: consumerName(),
      handlers: wrapped,
      retryScheduleMs: options.retryScheduleMs ?? config.retryScheduleMs,
      claimIdleMs: config.claimIdleMs,
      maxAttempts: options.maxAttempts,
      maxInFlight: options.maxInFlight,
      ordering: options.ordering,
      onDeadLetter: (id, reason) => log.warn({ consumer: name, stream_message_id: id, reason }, "dead letter"),
      shouldRecreateGroup: () => isSubscriberEnabled(db!, name),
      log,
    });
    const running = consumer;
    redeliveries = new Redeliveries({
      db: db!,
      redis: redis!,
      keys,
      subscriber: name,
      handlerFor: (type) => running.handlerFor(type),
      log,
    });
    consumer.start();
    redeliveries.start();
    log.info({ consumer: name, stream }, "event consumer started");
  }

  async function begin(): Promise<void> {
    const config = loadConfig(options.env ?? process.env);
    const log = (options.logger ?? pino({ level: config.logLevel, name: "brain-event-consumer" })) as FastifyBaseLogger;
    redis = deliveryConnection(options.redisUrl ?? config.redisUrl, config.redisMode, `consumer:${name}`);
    db = connectDb(options.databaseUrl ?? config.databaseUrl, 4);
    if (config.mode === "required") {
      try {
        await connect(config, log);
      } catch (err) {
        await release();
        throw err;
      }
      return;
    }
    void (async () => {
      for (let delay = RETRY_START_MS; !stopping && consumer === null; delay = Math.min(delay * 2, 60_000)) {
        try {
          await connect(config, log);
        } catch (err) {
          log.warn({ consumer: name, err: (err as Error).message }, "event consumer not started yet; retrying");
          await sleep(delay);
        }
      }
    })();
  }

  async function release(): Promise<void> {
    if (redis) await closeConnection(redis);
    if (db) await closeDb(db);
    redis = null;
    db = null;
  }

  return {
    name,
    start() {
      started ??= begin();
      return started;
    },
    async stop(timeoutMs = 15_000) {
      stopping = true;
      await started?.catch(() => {});
      await Promise.all([consumer?.stop(timeoutMs), redeliveries?.stop()]);
      await release();
    },
  };
}
