/**
 * The event-type registry as every process holds it: the Redis hash (stream/event-types.ts) loaded
 * into a Map, each schema compiled once (ingest/payload-schemas.ts).
 *
 * Every POLL_MS the registry reads the version key (one GET); when it moved, the whole hash is
 * read again and only entries whose stored JSON changed are parsed, and only schemas that changed
 * are compiled. So a change made through any process is enforced by every process within
 * POLL_MS plus one reload (docs/CONTRACT.md §7: within 5 s); the process that made it reloads at
 * once. While Redis cannot be reached the last loaded registry stays in force.
 *
 * Types are Map keys, never object keys: a type named `constructor` or `valueOf` finds nothing
 * it did not register.
 */
import type { RedisClient } from "../stream/connections.js";
import type { EventTypeInfo } from "../schemas/event-type.js";
import { readEventTypes, readEventTypesVersion } from "../stream/event-types.js";
import type { StreamKeys } from "../stream/keys.js";
import { PayloadSchema } from "./payload-schemas.js";

/** How often each process asks whether the registry changed. */
export const POLL_MS = 1000;

/** A registered type as ingest checks it: its compiled schema, or why its stored schema cannot be used. */
export interface RegisteredType {
  readonly stored: string;
  readonly schemaJson: string;
  readonly schema: PayloadSchema | null;
  readonly problem: string | null;
}

/** Where the registry reports what it cannot fix itself; quiet when absent (the in-process publisher). */
export interface RegistryLog {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** A stored entry as the API shows it, or null when it is not an entry's JSON (written by hand). */
export function parseStoredEntry(type: string, stored: string): EventTypeInfo | null {
  let value: unknown;
  try {
    value = JSON.parse(stored);
  } catch {
    return null;
  }
  const v = value as Partial<Record<keyof EventTypeInfo, unknown>>;
  const isObject = (x: unknown) => typeof x === "object" && x !== null && !Array.isArray(x);
  if (
    !isObject(v) ||
    !isObject(v.schema) ||
    typeof v.description !== "string" ||
    typeof v.deprecated !== "boolean" ||
    typeof v.created_at !== "string" ||
    typeof v.updated_at !== "string"
  ) {
    return null;
  }
  const { created_at, description, schema, deprecated, updated_at } = v as EventTypeInfo;
  return { type, description, schema, deprecated, created_at, updated_at };
}

export class EventTypeRegistry {
  #entries = new Map<string, RegisteredType>();
  #version: string | null = null;
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #failing = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: StreamKeys,
    private readonly log?: RegistryLog,
  ) {}

  /** True once a load succeeded; until then ingest loads first (ingest/type-rules.ts). */
  get loaded(): boolean {
    return this.#version !== null;
  }

  /** The registered type, or undefined: one Map lookup, the whole cost for an unregistered type. */
  lookup(type: string): RegisteredType | undefined {
    return this.#entries.get(type);
  }

  /** Starts polling, then loads; rejects when Redis cannot be reached (polling goes on regardless). */
  async start(): Promise<void> {
    this.#timer ??= setInterval(() => void this.#poll(), POLL_MS).unref();
    await this.load();
  }

  /** Stops polling and waits for a load in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#queue.catch(() => {});
  }

  /**
   * Reads the registry now and applies it. Loads run one after another, each reading after the
   * call, so a caller that changed the registry sees its change once this resolves.
   */
  load(): Promise<void> {
    const next = this.#queue.catch(() => {}).then(() => this.#read());
    this.#queue = next;
    return next;
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      if ((await readEventTypesVersion(this.redis, this.keys)) !== this.#version) await this.load();
      if (this.#failing) this.log?.warn({}, "event-type registry reachable again");
      this.#failing = false;
    } catch (err) {
      // Once per outage: every poll fails the same way until Redis is back.
      if (!this.#failing) {
        this.log?.warn(
          { err: (err as Error).message },
          "event-type registry not reloaded; the last one loaded applies",
        );
      }
      this.#failing = true;
    } finally {
      this.#polling = false;
    }
  }

  async #read(): Promise<void> {
    const { version, entries } = await readEventTypes(this.redis, this.keys);
    const next = new Map<string, RegisteredType>();
    for (const [type, stored] of entries) {
      const old = this.#entries.get(type);
      const entry = old?.stored === stored ? old : this.#compile(type, stored, old);
      if (entry !== null) next.set(type, entry);
    }
    this.#entries = next;
    this.#version = version;
  }

  /** A changed entry; its compiled schema is reused when only its description or flag changed. */
  #compile(type: string, stored: string, old: RegisteredType | undefined): RegisteredType | null {
    const info = parseStoredEntry(type, stored);
    if (info === null) {
      this.log?.error({ type }, "event-type registry entry is not valid JSON of an entry; ignored");
      return null;
    }
    const schemaJson = JSON.stringify(info.schema);
    if (old !== undefined && old.schemaJson === schemaJson) return { ...old, stored };
    try {
      return { stored, schemaJson, schema: new PayloadSchema(info.schema), problem: null };
    } catch (err) {
      // Admitted when it was registered, so a newer validator refuses it: events of the type are
      // refused rather than let through unchecked.
      const problem = `the registered schema cannot be compiled (${(err as Error).message}); register it again`;
      this.log?.error({ type, err: (err as Error).message }, "event-type schema cannot be compiled");
      return { stored, schemaJson, schema: null, problem };
    }
  }
}
