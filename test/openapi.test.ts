import t from "tap";
import { buildApp } from "./helpers/app.js";

type Json = Record<string, unknown>;
interface Operation {
  summary?: string;
  description?: string;
  security?: Json[];
  requestBody?: { content?: Record<string, { schema?: Json }> };
  responses?: Record<string, { content?: Record<string, { schema?: Json }> }>;
}

const ERROR_REF = "#/components/schemas/ErrorBody";

t.test("the OpenAPI document and the docs UI", async (t) => {
  const { app } = await buildApp(t);
  const res = await app.inject({ method: "GET", url: "/openapi.json" });
  t.equal(res.statusCode, 200);
  const doc = res.json() as { openapi: string; paths: Record<string, Record<string, Operation>>; components: Json };
  const schemas = doc.components["schemas"] as Record<string, Json>;

  t.test("is OpenAPI 3.1.0 with the envelope, the error body and the bearer scheme as components", async (t) => {
    t.equal(doc.openapi, "3.1.0");
    t.match(schemas["EventEnvelope"], {
      type: "object",
      additionalProperties: false,
      required: ["type", "source", "payload", "meta"],
    });
    t.match(schemas["ErrorBody"], { type: "object", required: ["statusCode", "code", "error", "message"] });
    t.match(doc.components["securitySchemes"], { bearerAuth: { type: "http", scheme: "bearer" } });
  });

  t.test("lists the ingest routes with OpenAPI-style paths", async (t) => {
    for (const [path, method] of [
      ["/v1/events", "post"],
      ["/v1/events/batch", "post"],
      ["/v1/events", "get"],
      ["/health/live", "get"],
      ["/health/ready", "get"],
    ]) {
      t.ok(doc.paths[path!]?.[method!], `${method} ${path}`);
    }
    t.notOk(
      Object.keys(doc.paths).some((p) => p.includes(":")),
      "parameters are written {name}",
    );
    const post = doc.paths["/v1/events"]!["post"]!;
    t.equal(post.requestBody?.content?.["application/json"]?.schema?.["$ref"], "#/components/schemas/EventEnvelope");
    t.match(doc.paths["/health/ready"]!["get"]!.responses, { 200: {}, 503: {} });
  });

  t.test("every operation has a summary, a description and response schemas", async (t) => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${path}`;
        t.ok(op.summary?.trim(), `${name} has a summary`);
        t.ok(op.description?.trim(), `${name} has a description`);
        const responses = Object.entries(op.responses ?? {});
        t.ok(
          responses.some(([code]) => code.startsWith("2")),
          `${name} documents its success`,
        );
        for (const [code, response] of responses) {
          if (code === "204") continue;
          const content = Object.values(response.content ?? {});
          t.ok(content.length > 0 && content.every((c) => c.schema), `${name} ${code} has a schema`);
          // Readiness answers 503 with its checks, which is what a probe reads.
          if (Number(code) >= 400 && path !== "/health/ready") {
            t.equal(
              response.content?.["application/json"]?.schema?.["$ref"],
              ERROR_REF,
              `${name} ${code} is the shared error body`,
            );
          }
        }
      }
    }
  });

  t.test("every /v1 operation needs the bearer token and documents 401 and 403", async (t) => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!path.startsWith("/v1/")) continue;
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${path}`;
        t.ok(
          op.security?.some((s) => "bearerAuth" in s),
          `${name} uses bearerAuth`,
        );
        t.ok(op.responses?.["401"] && op.responses?.["403"], `${name} documents 401 and 403`);
      }
    }
    const ingest = doc.paths["/v1/events"]!["post"]!.responses!;
    for (const code of ["202", "200", "400", "413", "415", "422", "503"])
      t.ok(ingest[code], `POST /v1/events documents ${code}`);
  });

  t.test("/docs serves HTML whose assets are all local", async (t) => {
    let page = await app.inject({ method: "GET", url: "/docs" });
    if (page.statusCode >= 300 && page.statusCode < 400)
      page = await app.inject({ method: "GET", url: String(page.headers.location) });
    t.equal(page.statusCode, 200);
    t.match(page.headers["content-type"], /text\/html/);
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    t.ok(
      refs.some((r) => r.includes("swagger-ui-bundle.js")),
      "loads the Swagger UI bundle",
    );
    t.same(
      refs.filter((r) => /^(https?:)?\/\//.test(r)),
      [],
      "no asset comes from another host",
    );
    for (const asset of [
      "/docs/static/swagger-ui-bundle.js",
      "/docs/static/swagger-ui.css",
      "/docs/static/swagger-initializer.js",
    ]) {
      const res = await app.inject({ method: "GET", url: asset });
      t.equal(res.statusCode, 200, asset);
    }
    const bundle = await app.inject({ method: "GET", url: "/docs/static/swagger-ui-bundle.js" });
    t.match(bundle.headers["content-type"], /javascript/);
    t.ok(bundle.body.length > 100_000, "the real bundle, not a stub");
  });
});
