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

const errorRef = ref(ErrorBody);

/** Error responses for the given status codes, each a `$ref` to ErrorBody. */
export function errorResponses(...codes: number[]): Record<number, typeof errorRef> {
  return Object.fromEntries(codes.map((c) => [c, errorRef]));
}

/**
 * A Redis stream id such as `1732640000000-0`. The `stream-id` format (plugins/validation.ts) also
 * keeps each part within 2^64 − 1, so an id Redis would refuse is a 400 before it reaches Redis.
 */
export const StreamId = Type.String({
  pattern: "^[0-9]{1,20}-[0-9]{1,20}$",
  format: "stream-id",
  maxLength: 50,
  description: "`<milliseconds>-<sequence>`, each part at most 18446744073709551615",
  examples: ["1732640000000-0"],
});
