/**
 * Event catalogs: a map from event type to the TypeBox schema of its payload, and `createEvent`,
 * which builds a complete envelope of one catalog type. Runs inside producer applications, so it
 * imports nothing but typebox, uuid and the envelope schema (eslint.config.js enforces it).
 */
import type { TSchema } from "typebox";
import { Value } from "typebox/value";
import { v7 as uuidv7 } from "uuid";
import { EventEnvelope } from "../schemas/envelope.js";
import type { CatalogEvent, EventPayload, EventSchemas, EventType } from "./types.js";

/** One problem with a payload, as a JSON pointer into it (the shape of the gateway's error details). */
export interface PayloadProblem {
  path: string;
  message: string;
}

/** A payload that does not match its catalog schema; thrown before anything is sent. */
export class InvalidPayloadError extends TypeError {
  override name = "InvalidPayloadError";
  constructor(
    readonly type: string,
    readonly details: PayloadProblem[],
  ) {
    super(`payload of ${type} does not match the catalog: ${details.map((d) => `${d.path} ${d.message}`).join("; ")}`);
  }
}

// The gateway's own rule for `type`, so a catalog cannot name a type the gateway would reject.
const TYPE_SCHEMA = EventEnvelope.properties.type;
const TYPE_PATTERN = (TYPE_SCHEMA as { pattern?: string }).pattern;

/** The payload's problems, a missing key named in the path as the gateway's 400 details do. */
function problems(schema: TSchema, payload: unknown): PayloadProblem[] {
  return Value.Errors(schema, payload).flatMap((e) =>
    e.keyword === "required"
      ? e.params.requiredProperties.map((key) => ({ path: `${e.instancePath}/${key}`, message: "is required" }))
      : [{ path: e.instancePath || "/", message: e.message }],
  );
}

/**
 * Defines a catalog: `{ "<type>": TypeBoxSchema, … }`. The result is the same map, frozen, and
 * typed so that `createEvent` and a typed `BrainEventsClient` accept exactly these types and payloads.
 */
export function defineEventCatalog<const S extends EventSchemas>(schemas: S): Readonly<S> {
  for (const [type, schema] of Object.entries(schemas)) {
    if (!Value.Check(TYPE_SCHEMA, type)) {
      throw new TypeError(`event type "${type}" is not valid: 1–128 characters matching ${TYPE_PATTERN}`);
    }
    if (typeof schema !== "object" || schema === null) {
      throw new TypeError(`the payload schema of "${type}" must be a TypeBox schema`);
    }
  }
  return Object.freeze({ ...schemas });
}

export interface CreateEventOptions {
  /** `source` of the envelope: the component the event is about, e.g. `mission_queue`. */
  source: string;
  /** `meta.producer`: the service that produced the event. */
  producer: string;
  /** `meta.source_module`: the module inside the producer. */
  source_module: string;
  target?: string | null;
  /** Defaults to a new UUIDv7; pass one to publish a retry of an event built earlier. */
  id?: string;
  /** Defaults to now. */
  timestamp?: Date | string;
  /** Further `meta` keys (`correlation_id`, `causation_id`, `traceparent`, …). */
  meta?: { [key: string]: string | number | boolean };
}

/** The envelope `createEvent` returns: every optional field the gateway would assign is filled. */
export type CreatedEvent<C extends EventSchemas, K extends EventType<C>> = CatalogEvent<C, K> & {
  id: string;
  timestamp: string;
};

/**
 * Builds a complete envelope of one catalog type: id (UUIDv7), timestamp and `meta`
 * (`schema_version` 1). The payload is checked against the catalog at compile time and again
 * here, for callers the compiler cannot see (JavaScript, casts); a mismatch throws InvalidPayloadError.
 */
export function createEvent<C extends EventSchemas, K extends EventType<C>>(
  catalog: C,
  type: K,
  payload: EventPayload<C, K>,
  options: CreateEventOptions,
): CreatedEvent<C, K> {
  const schema: TSchema | undefined = Object.hasOwn(catalog, type) ? catalog[type] : undefined;
  if (schema === undefined) throw new TypeError(`event type "${type}" is not in this catalog`);
  if (!Value.Check(schema, payload)) {
    throw new InvalidPayloadError(type, problems(schema, payload));
  }
  const { source, producer, source_module, target, id, timestamp, meta } = options;
  const event = {
    id: id ?? uuidv7(),
    type,
    source,
    ...(target === undefined ? {} : { target }),
    payload,
    timestamp: timestamp instanceof Date ? timestamp.toISOString() : (timestamp ?? new Date().toISOString()),
    // The required keys last, so extra meta cannot overwrite them.
    meta: { ...meta, schema_version: 1, producer, source_module },
  };
  return event as CreatedEvent<C, K>;
}
