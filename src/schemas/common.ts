import { Type, type Static, type TSchema } from "typebox";

/** The shared error body; registered once so every route's error responses `$ref` it. */
export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String({ description: "stable machine-readable code, e.g. INVALID_ENVELOPE" }),
    error: Type.String({ description: "HTTP status text" }),
    message: Type.String(),
    details: Type.Optional(
      Type.Array(
        Type.Object({ path: Type.String({ description: "JSON pointer into the request" }), message: Type.String() }),
      ),
    ),
  },
  { $id: "ErrorBody", description: "Every error has this shape." },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** A `$ref` to a registered component that keeps its static type (docs/STACK-NOTES.md §5). */
export function ref<T extends TSchema>(schema: T) {
  const id = (schema as { $id?: string }).$id;
  if (id === undefined) throw new Error("ref() needs a schema with an $id");
  return Type.Unsafe<Static<T>>(Type.Ref(id));
}

/**
 * The longest path parameter the router accepts (longer → 414): an event type's 128 characters
 * (envelope.ts), the longest any route takes.
 */
export const MAX_PATH_PARAM_LENGTH = 128;

const errorRef = ref(ErrorBody);

/** Headers some error answers carry; @fastify/swagger documents a response schema's `headers`. */
const ERROR_HEADERS: Record<number, Record<string, { type: "string"; description: string }>> = {
  401: { "www-authenticate": { type: "string", description: "`Bearer`" } },
  403: { "www-authenticate": { type: "string", description: '`Bearer error="insufficient_scope"`' } },
  503: { "retry-after": { type: "string", description: "seconds to wait before retrying" } },
};

/** Error responses for the given status codes, each a `$ref` to ErrorBody (with its headers, if any). */
export function errorResponses(...codes: number[]): Record<number, typeof errorRef> {
  return Object.fromEntries(
    codes.map((c) => [
      c,
      ERROR_HEADERS[c] ? ({ ...errorRef, headers: ERROR_HEADERS[c] } as typeof errorRef) : errorRef,
    ]),
  );
}

/** A response schema that also documents the headers it is sent with. */
export function withHeaders<T extends TSchema>(
  schema: T,
  headers: Record<string, { type: "string"; description: string }>,
): T {
  return { ...schema, headers } as T;
}

const Check = Type.Union([Type.Literal("up"), Type.Literal("down")]);

export const Liveness = Type.Object({ status: Type.Literal("ok") }, { $id: "Liveness" });

export const Readiness = Type.Object(
  {
    status: Type.Union([Type.Literal("ready"), Type.Literal("not_ready")]),
    checks: Type.Object({ redis: Check, postgres: Check }),
  },
  { $id: "Readiness", description: "ready when Redis and Postgres both answer" },
);

/**
 * A Redis stream id such as `1732640000000-0`. The `stream-id` format (plugins/validation.ts) also
 * keeps each part within 2^64 − 1, so an id Redis would refuse is a 400 before it reaches Redis.
 */
export const StreamId = Type.String({
  pattern: "^((0|[1-9][0-9]{0,3}):)?[0-9]{1,20}-[0-9]{1,20}$",
  format: "stream-id",
  maxLength: 50,
  description:
    "`<milliseconds>-<sequence>`, each part at most 18446744073709551615; with BRAIN_STREAM_PARTITIONS > 1 " +
    "prefixed by the partition, `<partition>:<milliseconds>-<sequence>`",
  examples: ["1732640000000-0"],
});
