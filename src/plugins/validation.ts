/**
 * Request validation with Ajv over the TypeBox schemas.
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
import type { FastifyInstance, FastifySchema } from "fastify";
import type { TSchema } from "typebox";

const base: Options = { removeAdditional: false, useDefaults: true, strict: false, unicodeRegExp: true };

/** Above this many JSON values in a body, only its first problem is reported. */
export const FULL_CHECK_MAX_VALUES = 20_000;

const U64_MAX = "18446744073709551615";
/** A decimal no larger than 2^64 − 1, the range of each part of a Redis stream id. */
const fitsU64 = (digits: string) =>
  digits.length < U64_MAX.length || (digits.length === U64_MAX.length && digits <= U64_MAX);

/** `<ms>-<seq>` with both parts within 2^64 − 1: Redis refuses anything larger. */
export function isStreamId(text: string): boolean {
  const m = /^([0-9]{1,20})-([0-9]{1,20})$/.exec(text);
  return m !== null && fitsU64(m[1]!.replace(/^0+(?=.)/, "")) && fitsU64(m[2]!.replace(/^0+(?=.)/, ""));
}

function ajv(options: Options): Ajv {
  const instance = addFormats.default(new Ajv({ ...base, ...options }));
  instance.addFormat("stream-id", { type: "string", validate: isStreamId });
  return instance;
}

/** True when `root` holds at most `max` JSON values (iterative: hostile depth cannot overflow the stack). */
function holdsAtMost(root: unknown, max: number): boolean {
  const stack: unknown[] = [root];
  let count = 1;
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== "object" || value === null) continue;
    const children = Object.values(value);
    count += children.length;
    if (count > max) return false;
    for (const child of children) if (typeof child === "object" && child !== null) stack.push(child);
  }
  return true;
}

/** The first problem at once; all of them when the body is small enough to check in full cheaply. */
function bounded(first: ValidateFunction, all: ValidateFunction) {
  const validate = (data: unknown): boolean => {
    if (first(data)) {
      validate.errors = null;
      return true;
    }
    if (holdsAtMost(data, FULL_CHECK_MAX_VALUES) && !all(data)) {
      validate.errors = all.errors ?? null;
    } else {
      validate.errors = Object.assign([...(first.errors ?? [])], { partial: true });
    }
    return false;
  };
  validate.errors = null as ErrorObject[] | null;
  return validate;
}

export function installValidators(app: FastifyInstance, components: TSchema[]): void {
  const first = ajv({ coerceTypes: false, allErrors: false });
  const all = ajv({ coerceTypes: false, allErrors: true });
  const other = ajv({ coerceTypes: "array", allErrors: false });
  for (const schema of components) {
    app.addSchema(schema);
    first.addSchema(schema);
    all.addSchema(schema);
    other.addSchema(schema);
  }
  app.setValidatorCompiler<FastifySchema>(({ schema, httpPart }) =>
    httpPart === "body"
      ? (bounded(first.compile(schema as object), all.compile(schema as object)) as never)
      : (other.compile(schema as object) as never),
  );
}
