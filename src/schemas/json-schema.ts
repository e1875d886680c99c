/**
 * A TypeBox schema as the JSON Schema 2020-12 document the event-type registry takes
 * (PUT /v1/event-types/{type}); used by the client's registerCatalog and the in-process publisher,
 * so a catalog is checked by the very schema it registers.
 *
 * TypeBox 1.x keeps its own markers (`~kind`, `~optional`, …) in non-enumerable properties, which
 * JSON leaves out, so a JSON round trip strips them. Its tuples are written the draft-07 way
 * (`items: [...]`, `additionalItems`), which 2020-12 spells `prefixItems` and `items`.
 */
import type { TSchema } from "typebox";

/** The dialect the registry accepts in `$schema` (with or without the empty fragment). */
export const JSON_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema";

type Node = Record<string, unknown>;

/** Keywords whose value is a map of names to subschemas, a list of subschemas, or one subschema. */
const MAPS = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"];
const LISTS = ["allOf", "anyOf", "oneOf", "prefixItems"];
const SINGLE = [
  "items",
  "additionalProperties",
  "not",
  "if",
  "then",
  "else",
  "contains",
  "propertyNames",
  "unevaluatedItems",
  "unevaluatedProperties",
];

const isNode = (value: unknown): value is Node => typeof value === "object" && value !== null && !Array.isArray(value);

/** Rewrites draft-07 tuples in place, in this schema and every subschema (iteratively). */
function upgradeTuples(root: Node): void {
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (Array.isArray(node["items"])) {
      node["prefixItems"] = node["items"];
      const rest = node["additionalItems"];
      if (rest === undefined) delete node["items"];
      else node["items"] = rest;
      delete node["additionalItems"];
    }
    for (const key of MAPS) if (isNode(node[key])) stack.push(...Object.values(node[key]).filter(isNode));
    for (const key of LISTS) if (Array.isArray(node[key])) stack.push(...node[key].filter(isNode));
    for (const key of SINGLE) if (isNode(node[key])) stack.push(node[key]);
  }
}

/** The JSON Schema 2020-12 document of a TypeBox schema, `$schema` first. */
export function toJsonSchema2020(schema: TSchema): Node {
  const json = JSON.parse(JSON.stringify(schema)) as Node;
  upgradeTuples(json);
  return { $schema: JSON_SCHEMA_2020_12, ...json };
}
