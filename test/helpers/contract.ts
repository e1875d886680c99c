/**
 * The contract check: every response a test receives from a documented route is checked against
 * openapi/openapi.json (the status is documented for that operation, and a JSON body matches its
 * schema). A mismatch throws, failing the test that made the request.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { ROOT } from "./env.js";

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
}

const DOC_ID = "openapi.json";
const doc = JSON.parse(readFileSync(join(ROOT, "openapi/openapi.json"), "utf8")) as OpenApi;
const ajv = addFormats.default(new Ajv2020({ strict: false, allErrors: true, validateSchema: false }));
ajv.addSchema({ ...doc, $id: DOC_ID });

/** Path templates as regular expressions, most specific (fewest parameters) first. */
const routes = Object.keys(doc.paths)
  .map((template) => ({
    template,
    params: (template.match(/\{/g) ?? []).length,
    re: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+")}$`),
  }))
  .sort((a, b) => a.params - b.params);

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");
const validators = new Map<string, ReturnType<typeof ajv.compile>>();

/** The response as a test saw it. */
export interface SeenResponse {
  method: string;
  url: string;
  status: number;
  contentType: string | undefined;
  body: string;
}

/** Throws when a documented route answered an undocumented status or a body off its schema. */
export function assertDocumented(res: SeenResponse): void {
  const path = new URL(res.url, "http://x").pathname;
  const route = routes.find((r) => r.re.test(path));
  const method = res.method.toLowerCase();
  const op = route && doc.paths[route.template]![method];
  if (!route || !op) return; // not a documented operation (docs assets, unknown routes)
  const where = `${res.method} ${route.template} → ${res.status}`;
  const documented = op.responses[String(res.status)] ?? op.responses["default"];
  if (!documented) throw new Error(`contract: ${where} is not a documented response (body: ${res.body.slice(0, 300)})`);
  const status = op.responses[String(res.status)] ? String(res.status) : "default";
  const schema = documented.content?.["application/json"]?.schema;
  if (!schema || !res.contentType?.startsWith("application/json")) return;
  const at = pointer("paths", route.template, method, "responses", status, "content", "application/json", "schema");
  const ref = `${DOC_ID}#/${at}`;
  let validate = validators.get(ref);
  if (!validate) validators.set(ref, (validate = ajv.compile({ $ref: ref })));
  if (!validate(JSON.parse(res.body))) {
    throw new Error(`contract: ${where} body does not match the document: ${ajv.errorsText(validate.errors)}`);
  }
}
