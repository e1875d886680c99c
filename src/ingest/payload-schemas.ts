/**
 * Payload schemas: the JSON Schema 2020-12 documents registered for event types (and the schemas
 * of a code catalog), admitted once and compiled once with Ajv.
 *
 * Each schema compiles in an Ajv instance of its own: `$id`s are global to an instance, so two
 * schemas naming the same `$id` (or a replacement of one) would otherwise clash or resolve each
 * other's references. Such an instance knows no meta-schema either, so a `$ref` resolves inside
 * its own schema or not at all (400 at registration): nothing is fetched, nothing is shared.
 * Payloads are checked against their own properties only (`ownProperties`): a payload `{}` must not
 * satisfy `required: ["constructor"]` through Object.prototype.
 */
import type { Options, ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { errors, withDetails, type ErrorDetail } from "../errors.js";
import { JSON_SCHEMA_2020_12 } from "../schemas/json-schema.js";
import type { Problems } from "../schemas/validators.js";

/** A schema's size as JSON at most: it is compiled to code and held by every process. */
export const MAX_SCHEMA_BYTES = 64 * 1024;
/** Nesting of a schema at most, in JSON levels: room for a payload's 64 levels, and no deep recursion in Ajv. */
export const MAX_SCHEMA_DEPTH = 128;

// Strict: an unknown keyword or format (a misspelt `minLenght`, `format: "emial"`) is refused
// instead of silently checking nothing. No defaults, coercion or removal: a payload is checked, never changed.
const OPTIONS: Options = {
  strict: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  logger: false,
  unicodeRegExp: true,
  useDefaults: false,
  coerceTypes: false,
  removeAdditional: false,
  ownProperties: true,
};

const instance = (options: Options) => addFormats.default(new Ajv2020({ ...OPTIONS, ...options }));

/** Checks schemas against the 2020-12 meta-schema; compiles nothing of theirs. */
let metaChecker: Ajv2020 | undefined;

/** Keywords whose keys are property names, where Ajv skips `__proto__` (it guards its own objects). */
const PROPERTY_MAPS = new Set(["properties", "dependentRequired", "dependentSchemas"]);

const pointerPart = (key: string) => key.replaceAll("~", "~0").replaceAll("/", "~1");

/**
 * The first reason a schema's shape is refused before Ajv sees it, or null. Iterative, so hostile
 * depth cannot overflow the stack; numbers beyond ±(2^53 − 1) are refused as in envelopes, since
 * JSON.parse has already rounded them and the schema would check another bound than the one sent.
 */
function shapeProblem(schema: object): ErrorDetail | null {
  const stack: { value: object; depth: number; key: string; path: string }[] = [
    { value: schema, depth: 1, key: "", path: "" },
  ];
  while (stack.length > 0) {
    const { value, depth, key, path } = stack.pop()!;
    // Named at the schema itself: the path to the culprit is as long as the nesting.
    if (depth > MAX_SCHEMA_DEPTH) return { path: "", message: `nests deeper than ${MAX_SCHEMA_DEPTH} levels` };
    if (PROPERTY_MAPS.has(key) && Object.hasOwn(value, "__proto__")) {
      const message =
        'names a property "__proto__", which the validator cannot check: use patternProperties {"^__proto__$": …}';
      return { path, message };
    }
    for (const [childKey, child] of Object.entries(value)) {
      const at = `${path}/${pointerPart(childKey)}`;
      if (typeof child === "number" && Math.abs(child) > Number.MAX_SAFE_INTEGER) {
        return { path: at, message: "is a number beyond ±(2^53 − 1), which JSON parsers cannot hold exactly" };
      }
      if (typeof child === "object" && child !== null) {
        stack.push({ value: child, depth: depth + 1, key: childKey, path: at });
      }
    }
  }
  return null;
}

const compiler = (allErrors: boolean) => instance({ allErrors, meta: false, validateSchema: false });

/** A payload schema compiled for checking; built by `admitSchema` (new schemas) or directly (stored ones). */
export class PayloadSchema {
  /** Up to the first problem: the check every payload of the type gets. */
  readonly check: ValidateFunction;
  #all: ValidateFunction | undefined;

  /** Compiles `schema`; throws what Ajv throws for a schema it cannot compile. */
  constructor(private readonly schema: object) {
    this.check = compiler(false).compile(schema);
  }

  /** Every problem of a payload `check` refused; compiled on the first mismatch, which most types never see. */
  allProblems(payload: unknown): Problems {
    this.#all ??= compiler(true).compile(this.schema);
    this.#all(payload);
    return this.#all.errors ?? [];
  }
}

/**
 * Admits a schema for registration: a JSON object of at most MAX_SCHEMA_BYTES and
 * MAX_SCHEMA_DEPTH levels, of the 2020-12 dialect, valid against its meta-schema, whose `$ref`s
 * resolve within it, and that compiles. Anything else is 400 INVALID_REQUEST saying why.
 */
export function admitSchema(schema: unknown, json: string): PayloadSchema {
  const refuse = (why: string, path = "") =>
    withDetails(new errors.InvalidRequest(`body/schema${path} ${why}`), [{ path: `/schema${path}`, message: why }]);
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) throw refuse("must be a JSON object");
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_SCHEMA_BYTES) throw refuse(`is ${bytes} bytes as JSON; at most ${MAX_SCHEMA_BYTES} are allowed`);
  const dialect = (schema as { $schema?: unknown }).$schema;
  if (dialect !== undefined && dialect !== JSON_SCHEMA_2020_12 && dialect !== `${JSON_SCHEMA_2020_12}#`) {
    throw refuse(`must be JSON Schema 2020-12: $schema ${JSON.stringify(dialect)} is not "${JSON_SCHEMA_2020_12}"`);
  }
  const shape = shapeProblem(schema);
  if (shape !== null) throw refuse(shape.message, shape.path);
  metaChecker ??= instance({ allErrors: false });
  if (!metaChecker.validateSchema(schema)) {
    const [first] = metaChecker.errors ?? [];
    throw refuse(`is not valid JSON Schema 2020-12: ${first?.message ?? "invalid"}`, first?.instancePath);
  }
  try {
    return new PayloadSchema(schema);
  } catch (cause) {
    throw refuse(`cannot be compiled: ${(cause as Error).message}`);
  }
}
