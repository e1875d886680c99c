/**
 * The types an application publishes with: the envelope as a producer sends it, and the events a
 * catalog allows. Types only, derived from the gateway's own envelope schema so the two cannot
 * drift apart (docs/CONTRACT.md §2).
 */
import type { Static, TSchema } from "typebox";
import type { EventEnvelope } from "../schemas/envelope.js";

/** `meta` as sent: the three required keys, plus strings, numbers or booleans such as `correlation_id`. */
export type EventMeta = EventEnvelope["meta"] & { [key: string]: string | number | boolean };

/**
 * One event envelope as a producer sends it. `id` and `timestamp` may be left out: the client
 * assigns the id (so its retries are recognised), the gateway the receive time.
 */
export type BrainEvent<T extends string = string, P = object> = Omit<EventEnvelope, "type" | "payload" | "meta"> & {
  type: T;
  payload: P;
  meta: EventMeta;
};

/** A catalog's shape: each event type mapped to the TypeBox schema of its payload. */
export type EventSchemas = { readonly [type: string]: TSchema };

/** The event types of a catalog. */
export type EventType<C extends EventSchemas> = keyof C & string;

/** The payload of one catalog type, as TypeScript sees its schema. */
export type EventPayload<C extends EventSchemas, K extends EventType<C>> = Static<C[K]>;

/**
 * An envelope of a catalog type: a union discriminated by `type`, so an object literal whose
 * payload does not fit its type is a compile error.
 */
export type CatalogEvent<C extends EventSchemas, K extends EventType<C> = EventType<C>> = K extends unknown
  ? BrainEvent<K, EventPayload<C, K>>
  : never;

/** What a publisher accepts: any envelope, or with a catalog only the catalog's types with their payloads. */
export type PublishableEvent<C extends EventSchemas | undefined> = [C] extends [EventSchemas]
  ? CatalogEvent<C>
  : BrainEvent;
