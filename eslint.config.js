/**
 * Lint rules, including the architecture guardrails (docs/ARCHITECTURE.md §1); each is proven to
 * bite by a fixture in test/guardrail.test.ts:
 * - Charter TEIL C: only `src/stream/publisher.ts` writes to the event stream (an `xadd` call, an
 *   "XADD" command name, or a call of the appending scripts anywhere else fails); the Lua text of
 *   those scripts lives in the script registry `src/stream/scripts.ts`, and nowhere else;
 * - the removed legacy flags of the "optional event stream" mode appear only where config.ts
 *   lists them to reject them, and in the test that proves the rejection;
 * - SQL has one owner: no `drizzle-orm`, `postgres` or `db/schema` import outside `src/db/`;
 * - Redis has one owner: no value import of `ioredis` outside `src/stream/` and the Redis plugin;
 * - layers import downward only: package entry → entry → routes → plugins → services → delivery → consumer →
 *   stream → db → schemas/config/errors/metrics;
 * - the client and the catalog (src/client, src/catalog: `brain-event-gateway/client` and
 *   `/catalog`) run inside other applications: beside the entry at the top, importing only
 *   node: built-ins, typebox, uuid and src/schemas, and imported by no layer of the server but the
 *   package entry (src/index.ts, src/embedded), except for types from src/catalog/types.ts (the
 *   in-process publisher is typed by a catalog, and a type import leaves nothing at run time);
 * - the console (src/console, a browser bundle) imports preact and eventsource-parser, and of the
 *   server and typebox only types (its schemas); it renders payloads as text (no dangerouslySetInnerHTML, no
 *   innerHTML) and never opens an EventSource (it cannot send the token in a header).
 */
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

// The command name as an argument (`call("XADD", …)`), or a Lua `redis.call('xadd', …)` in a
// script string; prose that merely mentions XADD (messages, test names) is fine.
const XADD_NAME = "/^xadd$/i";
const XADD_LUA = "/call\\(\\s*['\"]xadd['\"]/i";
const LEGACY = "/ENABLE_EVENT_STREAM|USE_EVENT_STREAM|EVENT_STREAM_AVAILABLE/";
const TEIL_C = "Only src/stream/publisher.ts may write to the event stream (Charter TEIL C)";

const xaddName = [{ selector: `Literal[value=${XADD_NAME}]`, message: `${TEIL_C}.` }];
const xaddLua = [`Literal[value=${XADD_LUA}]`, `TemplateElement[value.raw=${XADD_LUA}]`].map((selector) => ({
  selector,
  message: `${TEIL_C}; Lua scripts live in src/stream/scripts.ts.`,
}));
const xaddProperties = ["xadd", "xaddBuffer", "brainPublish", "brainAppend"].map((property) => ({
  property,
  message: `${TEIL_C}: use Publisher.publish.`,
}));
const legacySyntax = ["Identifier[name", "Literal[value", "TemplateElement[value.raw"].map((node) => ({
  selector: `${node}=${LEGACY}]`,
  message: "Legacy event-stream flags were removed (ADR-001): use BRAIN_EVENTSTREAM_MODE=required|degraded.",
}));

const PUBLISHER = "src/stream/publisher.ts";
const SCRIPTS = "src/stream/scripts.ts";
const LEGACY_LISTS = ["src/config.ts", "test/config.test.ts"];
// The benchmark's baseline and floor are, by definition, bare Fastify + ioredis XADD endpoints.
const BASELINE = ["bench/baseline-ingest.js", "bench/floor-ingest.js"];

/** Layers from the top; a file may import its own layer and those below it. */
const LAYERS = [
  {
    name: "sdk",
    files: ["src/client/**", "src/catalog/**"],
    imports: ["(^|/)client/", "(^|/)catalog/(?!types\\.js$)"],
    typeImports: ["(^|/)catalog/types\\.js$"],
  },
  // The package's main entry (`brain-event-gateway`): in-process consumers, run inside applications.
  {
    name: "package",
    files: ["src/index.ts", "src/embedded/**"],
    imports: ["^(\\.\\./)+index\\.js$", "^\\./index\\.js$", "(^|/)embedded/"],
  },
  {
    name: "entry",
    files: ["src/app.ts", "src/server.ts", "src/cli/**"],
    imports: ["(^|/)(app|server)\\.js$", "(^|/)cli/"],
  },
  { name: "routes", files: ["src/routes/**"], imports: ["(^|/)routes/"] },
  { name: "plugins", files: ["src/plugins/**"], imports: ["(^|/)plugins/"] },
  { name: "services", files: ["src/ingest/**", "src/subscribers/**"], imports: ["(^|/)(ingest|subscribers)/"] },
  { name: "delivery", files: ["src/delivery/**"], imports: ["(^|/)delivery/"] },
  { name: "consumer", files: ["src/consumer/**"], imports: ["(^|/)consumer/"] },
  { name: "stream", files: ["src/stream/**"], imports: ["(^|/)stream/"] },
  { name: "db", files: ["src/db/**"], imports: ["(^|/)db/"] },
  { name: "base", files: ["src/schemas/**", "src/config.ts", "src/errors.ts", "src/metrics.ts"], imports: [] },
];

const SQL_OWNER = "src/db/";
const sqlImports = {
  paths: ["drizzle-orm", "postgres"].map((name) => ({
    name,
    message: `SQL lives in ${SQL_OWNER}: call its functions.`,
  })),
  patterns: [
    { regex: "^drizzle-orm/", message: `SQL lives in ${SQL_OWNER}: call its functions.` },
    { regex: "(^|/)db/schema\\.js$", message: `The tables are ${SQL_OWNER}'s: call its functions.` },
  ],
};
const redisImport = {
  name: "ioredis",
  allowTypeImports: true,
  message: "Redis is spoken in src/stream/ only (connections.ts makes connections): call its functions.",
};

/** The import restrictions of one layer: SQL and Redis ownership, and nothing from a layer above. */
function importRules(index, { sql = true, redis = true } = {}) {
  const layer = LAYERS[index];
  // The package's main entry types its consumers' handlers by a catalog: only it may reach the sdk.
  const forbidden = LAYERS.slice(0, index).filter((upper) => !(layer.name === "package" && upper.name === "sdk"));
  const above = forbidden.flatMap((upper) => {
    const why = "layers import downward only (docs/ARCHITECTURE.md §1)";
    const message = `${layer.name} must not import ${upper.name}: ${why}.`;
    return [
      ...upper.imports.map((regex) => ({ regex, message })),
      ...(upper.typeImports ?? []).map((regex) => ({
        regex,
        message: `${message} Types only.`,
        allowTypeImports: true,
      })),
    ];
  });
  return {
    "@typescript-eslint/no-restricted-imports": [
      "error",
      {
        paths: [...(sql ? sqlImports.paths : []), ...(redis ? [redisImport] : [])],
        patterns: [...(sql ? sqlImports.patterns : []), ...above],
      },
    ],
  };
}

/**
 * The sdk layer's imports: an allow-list of packages (anything else, a server package first of
 * all, fails), and of src only schemas/ and its own layer.
 */
function sdkImportRules() {
  const message = (what) =>
    `src/client and src/catalog run inside other apps: ${what} (docs/CONTRACT.md §7, package entry points).`;
  const server = LAYERS.filter((l) => l.name !== "sdk").flatMap((l) => l.imports);
  return {
    "@typescript-eslint/no-restricted-imports": [
      "error",
      {
        patterns: [
          {
            regex: "^(?!node:|typebox(/|$)|uuid$|\\.)",
            message: message("import only node: built-ins, typebox and uuid, no server package"),
          },
          ...[...server, "^(\\.\\./)+(config|errors|metrics)\\.js$"].map((regex) => ({
            regex,
            message: message("of src they may import only src/schemas"),
          })),
        ],
      },
    ],
  };
}

/** The browser console's rules: see the file comment. */
const CONSOLE = {
  files: ["src/console/**"],
  languageOptions: { globals: { ...globals.browser } },
  rules: {
    "@typescript-eslint/no-restricted-imports": [
      "error",
      {
        patterns: [
          {
            regex: "^(?!preact(/|$)|eventsource-parser$|typebox$|\\.)",
            message: "The console bundles preact and eventsource-parser only (keep it under its size budget).",
          },
          {
            regex: "^typebox$",
            allowTypeImports: true,
            message: "The console types its data from the server's schemas; typebox itself stays out of the bundle.",
          },
          {
            regex: "^\\.\\./",
            allowTypeImports: true,
            message: "The console runs in the browser: of the server it may import types only.",
          },
        ],
      },
    ],
    "no-restricted-syntax": [
      "error",
      {
        selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']",
        message: "Render payloads as text nodes: markup in an event must show as characters.",
      },
      {
        selector: "Identifier[name='EventSource']",
        message: "EventSource cannot send the Authorization header: read the tail with fetch (tail.ts).",
      },
    ],
    "no-restricted-properties": [
      "error",
      ...["innerHTML", "outerHTML"].map((property) => ({ property, message: "Render text, never markup." })),
      { object: "document", property: "write", message: "Render text, never markup." },
    ],
  },
};

const restrict = (syntax, properties) => ({
  "no-restricted-syntax": ["error", ...syntax],
  "no-restricted-properties": ["error", ...properties],
});

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "node_modules/",
      "drizzle/",
      "coverage/",
      ".tap/",
      "bench/out/",
      "test/fixtures/",
      "examples/out/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Prettier wraps code at 120; this catches what it cannot wrap (comments, long strings).
      "max-len": ["error", { code: 120, ignoreUrls: true }],
    },
  },
  {
    // examples/ too: they are what applications copy, so they must not show an XADD or a legacy flag.
    files: ["src/**", "test/**", "bench/**", "examples/**"],
    ignores: [PUBLISHER, SCRIPTS, ...BASELINE, ...LEGACY_LISTS],
    rules: restrict([...xaddName, ...xaddLua, ...legacySyntax], xaddProperties),
  },
  CONSOLE,
  { files: [PUBLISHER, ...BASELINE], rules: restrict(legacySyntax, []) },
  { files: [SCRIPTS], rules: restrict([...xaddName, ...legacySyntax], xaddProperties) },
  { files: LEGACY_LISTS, rules: restrict([...xaddName, ...xaddLua], xaddProperties) },
  ...LAYERS.map((layer, i) => ({
    files: layer.files,
    rules:
      layer.name === "sdk"
        ? sdkImportRules()
        : importRules(i, { sql: layer.name !== "db", redis: layer.name !== "stream" }),
  })),
  {
    files: ["src/plugins/redis.ts"],
    rules: importRules(
      LAYERS.findIndex((l) => l.name === "plugins"),
      { redis: false },
    ),
  },
);
