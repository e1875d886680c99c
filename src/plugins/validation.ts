/**
 * Request validation with Ajv over the TypeBox schemas.
 *
 * Bodies are checked strictly: no type coercion (a `"1"` is not a schema_version), no silent
 * removal of unknown keys (docs/STACK-NOTES.md §5), and every error reported at once. Query strings, params
 * and headers arrive as strings, so only they are coerced.
 */
import { Ajv, type Options } from "ajv";
import addFormats from "ajv-formats";
import type { FastifyInstance, FastifySchema } from "fastify";
import type { TSchema } from "typebox";

const base: Options = { removeAdditional: false, useDefaults: true, strict: false, unicodeRegExp: true };

export function installValidators(app: FastifyInstance, components: TSchema[]): void {
  const body = addFormats.default(new Ajv({ ...base, coerceTypes: false, allErrors: true }));
  const other = addFormats.default(new Ajv({ ...base, coerceTypes: "array", allErrors: false }));
  for (const schema of components) {
    app.addSchema(schema);
    body.addSchema(schema);
    other.addSchema(schema);
  }
  app.setValidatorCompiler<FastifySchema>(
    ({ schema, httpPart }) => (httpPart === "body" ? body : other).compile(schema as object) as never,
  );
}
