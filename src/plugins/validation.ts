/**
 * Request validation with Ajv over the TypeBox schemas: the validators of src/schemas/validators.ts
 * (strict and bounded for bodies, coercing for the rest) installed as Fastify's validator compiler.
 */
import type { FastifyInstance, FastifySchema } from "fastify";
import type { TSchema } from "typebox";
import { SchemaValidators } from "../schemas/validators.js";

export function installValidators(app: FastifyInstance, components: TSchema[]): void {
  const validators = new SchemaValidators(components);
  for (const schema of components) app.addSchema(schema);
  app.setValidatorCompiler<FastifySchema>(({ schema, httpPart }) =>
    httpPart === "body"
      ? (validators.body(schema as object) as never)
      : (validators.coercing(schema as object) as never),
  );
}
