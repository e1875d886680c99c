/**
 * The compiled validators of the TypeBox schemas, shared by the HTTP routes (plugins/validation.ts)
 * and the in-process publisher (ingest/in-process.ts), so both check an envelope with the very
 * same Ajv options and formats and report the very same problems.
 *
 * Bodies are checked strictly: no type coercion (a `"1"` is not a schema_version), no silent
 * removal of unknown keys (docs/STACK-NOTES.md §5). Query strings, params and headers arrive as
 * strings, so only they are coerced.
 *
 * Every problem of a body is reported at once, within bounds: Ajv collecting every error of a
 * hostile 1 MiB body (hundreds of thousands of unknown keys) blocks the event loop for seconds.
 * So a body is first checked up to its first problem, and only a body of at most
 * FULL_CHECK_MAX_VALUES JSON values is checked again for all of them.
 */
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { TSchema } from "typebox";

const base: Options = { removeAdditional: false, useDefaults: true, strict: false, unicodeRegExp: true };

/** Above this many JSON values in a body, only its first problem is reported. */
export const FULL_CHECK_MAX_VALUES = 20_000;

const U64_MAX = "18446744073709551615";
/** A decimal no larger than 2^64 − 1, the range of each part of a Redis stream id. */
const fitsU64 = (digits: string) =>
  digits.length < U64_MAX.length || (digits.length === U64_MAX.length && digits <= U64_MAX);

/**
 * `<ms>-<seq>` with both parts within 2^64 − 1 (Redis refuses anything larger), optionally after a
 * partition prefix `<partition>:` (stream/ids.ts; whether it fits the deployment is the route's check).
 */
export function isStreamId(text: string): boolean {
  const m = /^(?:(?:0|[1-9][0-9]{0,3}):)?([0-9]{1,20})-([0-9]{1,20})$/.exec(text);
  return m !== null && fitsU64(m[1]!.replace(/^0+(?=.)/, "")) && fitsU64(m[2]!.replace(/^0+(?=.)/, ""));
}

function ajv(options: Options): Ajv {
  const instance = addFormats.default(new Ajv({ ...base, ...options }));
  instance.addFormat("stream-id", { type: "string", validate: isStreamId });
  return instance;
}

/**
 * How many JSON values `root` holds, counting stops once past `max` (iterative: hostile depth
 * cannot overflow the stack). Returns at most `max + 1` for anything larger.
 */
export function countValues(root: unknown, max: number): number {
  const stack: unknown[] = [root];
  let count = 1;
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== "object" || value === null) continue;
    const children = Object.values(value);
    count += children.length;
    if (count > max) return max + 1;
    for (const child of children) if (typeof child === "object" && child !== null) stack.push(child);
  }
  return count;
}

/** Ajv's problems; `partial` when only the first problem of a large value was looked for. */
export type Problems = ErrorObject[] & { partial?: boolean };

/** A validator that reports its first problem at once and all of them when the value is small. */
export type BoundedValidate = ((data: unknown) => boolean) & { errors: Problems | null };

/** The first problem at once; all of them when the value is small enough to check in full cheaply. */
export function bounded(first: ValidateFunction, all: () => ValidateFunction): BoundedValidate {
  const validate = (data: unknown): boolean => {
    if (first(data)) {
      validate.errors = null;
      return true;
    }
    const full = countValues(data, FULL_CHECK_MAX_VALUES) <= FULL_CHECK_MAX_VALUES ? all() : null;
    if (full !== null && !full(data)) {
      validate.errors = full.errors ?? null;
    } else {
      validate.errors = Object.assign([...(first.errors ?? [])], { partial: true });
    }
    return false;
  };
  validate.errors = null as Problems | null;
  return validate;
}

/** Validators over a set of registered components (`$ref`-able by their `$id`). */
export class SchemaValidators {
  private readonly first = ajv({ coerceTypes: false, allErrors: false });
  private readonly all = ajv({ coerceTypes: false, allErrors: true });
  private readonly other = ajv({ coerceTypes: "array", allErrors: false });

  constructor(components: TSchema[]) {
    for (const schema of components) {
      this.first.addSchema(schema);
      this.all.addSchema(schema);
      this.other.addSchema(schema);
    }
  }

  /** A request body's validator: strict, bounded. */
  body(schema: object): BoundedValidate {
    let all: ValidateFunction | undefined;
    // Compiled on the first invalid body: most routes never see one.
    return bounded(this.first.compile(schema), () => (all ??= this.all.compile(schema)));
  }

  /** A validator for query strings, params and headers, which arrive as strings and are coerced. */
  coercing(schema: object): ValidateFunction {
    return this.other.compile(schema);
  }
}
