/**
 * The event-type rules of ingest: a registered type's payload must match its schema
 * (PAYLOAD_SCHEMA_MISMATCH), and with BRAIN_REQUIRE_REGISTERED_TYPES an unregistered type is
 * refused (UNKNOWN_EVENT_TYPE). An in-process publisher with a catalog also holds each event to
 * the catalog. Deprecated types are accepted like any other.
 *
 * Problems are reported as JSON pointers into the request (`/payload/…`, `/events/3/payload/…`),
 * within the bounds of the body validator (schemas/validators.ts): every payload is checked up to
 * its first problem; only FULL_CHECK_MAX_VALUES JSON values of a request, in all, are checked again
 * for all of their problems.
 */
import {
  errors,
  MAX_DETAILS,
  PARTIAL_CHECK,
  problemDetails,
  withDetails,
  type DetailedError,
  type ErrorDetail,
} from "../errors.js";
import type { EventEnvelope } from "../schemas/envelope.js";
import { countValues, FULL_CHECK_MAX_VALUES, type Problems } from "../schemas/validators.js";
import type { PayloadSchema } from "./payload-schemas.js";
import type { EventTypeRegistry } from "./registry.js";

export interface TypeRules {
  registry: EventTypeRegistry;
  /** BRAIN_REQUIRE_REGISTERED_TYPES: refuse types the registry does not know. */
  requireRegistered: boolean;
  /** An in-process publisher's catalog: its types only, each payload matching its schema too. */
  catalog?: ReadonlyMap<string, PayloadSchema>;
}

/**
 * The problems without those of the branches of a failed anyOf/oneOf: a payload that matches none
 * of four alternatives is one problem at its path ("must match a schema in anyOf"), not five.
 */
function withoutBranches(problems: Problems): Problems {
  const failed = problems.filter((p) => p.keyword === "anyOf" || p.keyword === "oneOf").map((p) => `${p.schemaPath}/`);
  return failed.length === 0 ? problems : problems.filter((p) => !failed.some((f) => p.schemaPath.startsWith(f)));
}

/** Collects the problems of one request, spending the full-check budget as it goes. */
class Findings {
  unknown: ErrorDetail[] = [];
  mismatches: ErrorDetail[] = [];
  firstType = "";
  omitted = 0;
  partial = false;
  #budget = FULL_CHECK_MAX_VALUES;

  /** Checks `payload` against `schema`; false when it does not match (problems recorded at `at`). */
  match(schema: PayloadSchema, payload: unknown, at: string, type: string): boolean {
    if (schema.check(payload)) return true;
    if (this.mismatches.length === 0) this.firstType = type;
    const size = countValues(payload, this.#budget);
    let problems: Problems = schema.check.errors ?? [];
    if (size <= this.#budget) {
      this.#budget -= size;
      problems = schema.allProblems(payload);
    } else {
      this.partial = true;
    }
    problems = withoutBranches(problems);
    this.mismatches.push(...problemDetails(problems, `${at}/payload`));
    this.omitted += Math.max(0, problems.length - MAX_DETAILS);
    return false;
  }

  /** A registered type whose stored schema cannot be used: refused, never let through unchecked. */
  unusable(problem: string, at: string, type: string): void {
    if (this.mismatches.length === 0) this.firstType = type;
    this.mismatches.push({ path: `${at}/payload`, message: problem });
  }

  /** The error to throw, or null when every event passed. */
  error(): DetailedError | null {
    if (this.unknown.length > 0) {
      const [first] = this.unknown;
      return withDetails(new errors.UnknownEventType(`body${first!.path} ${first!.message}`), this.unknown);
    }
    if (this.mismatches.length === 0) return null;
    const details = this.mismatches;
    if (this.partial) details.splice(Math.min(details.length, MAX_DETAILS - 1), 0, PARTIAL_CHECK);
    const first = details[0]!;
    const message = `body${first.path} ${first.message}: the payload does not match the schema of "${this.firstType}"`;
    const error: DetailedError = withDetails(new errors.PayloadSchemaMismatch(message), details);
    error.omitted = this.omitted;
    return error;
  }
}

/**
 * Throws UNKNOWN_EVENT_TYPE or PAYLOAD_SCHEMA_MISMATCH for the events that break the rules, naming
 * each (`/events/<i>` in a batch). Loads the registry first if it never was (Redis was down at
 * start): an event is never let through because its schema was not known yet. Synchronous once
 * the registry is loaded, which is every request but the first: no promise on the hot path.
 */
export function checkTypes(
  rules: TypeRules,
  events: readonly EventEnvelope[],
  batch: boolean,
): Promise<void> | undefined {
  if (!rules.registry.loaded) return rules.registry.load().then(() => checkTypes(rules, events, batch));
  const { registry, requireRegistered, catalog } = rules;
  let findings: Findings | undefined;
  for (let i = 0; i < events.length; i++) {
    const { type, payload } = events[i]!;
    const registered = registry.lookup(type);
    const own = catalog?.get(type);
    if (registered === undefined && !requireRegistered && catalog === undefined) continue;
    const at = batch ? `/events/${i}` : "";
    findings ??= new Findings();
    if (registered === undefined && requireRegistered) {
      findings.unknown.push({ path: `${at}/type`, message: `"${type}" is not a registered event type` });
    } else if (catalog !== undefined && own === undefined) {
      findings.unknown.push({ path: `${at}/type`, message: `"${type}" is not in this publisher's catalog` });
    } else if (registered?.schema === null) {
      findings.unusable(registered.problem!, at, type);
    } else if (registered === undefined || findings.match(registered.schema, payload, at, type)) {
      // One report per event: the catalog's problems would mostly repeat the registry's.
      if (own !== undefined) findings.match(own, payload, at, type);
    }
  }
  const error = findings?.error();
  if (error) throw error;
}
