/**
 * Lint rules, including the Charter TEIL C guardrail:
 * - only `src/stream/publisher.ts` may write to the event stream (an `xadd` call, an "XADD" command
 *   name or a Lua `call('xadd', …)` anywhere else fails), so idempotency and size checks cannot be
 *   bypassed;
 * - the removed legacy flags of the "optional event stream" mode may appear only where config.ts
 *   lists them to reject them, and in the test that proves the rejection.
 * test/guardrail.test.ts proves both rules bite.
 */
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

// The command name as an argument (`call("XADD", …)`), or a Lua `redis.call('xadd', …)` in a
// script string; prose that merely mentions XADD (messages, test names) is fine.
const XADD_NAME = "/^xadd$/i";
const XADD_LUA = "/call\\(\\s*['\"]xadd['\"]/i";
const LEGACY = "/ENABLE_EVENT_STREAM|USE_EVENT_STREAM|EVENT_STREAM_AVAILABLE/";

const xaddSyntax = [`Literal[value=${XADD_NAME}]`, `Literal[value=${XADD_LUA}]`, `TemplateElement[value.raw=${XADD_LUA}]`].map((selector) => ({
  selector,
  message: "Only src/stream/publisher.ts may write to the event stream (Charter TEIL C).",
}));
const xaddProperties = ["xadd", "xaddBuffer"].map((property) => ({
  property,
  message: "Only src/stream/publisher.ts may write to the event stream (Charter TEIL C): use Publisher.publish.",
}));
const legacySyntax = ["Identifier[name", "Literal[value", "TemplateElement[value.raw"].map((node) => ({
  selector: `${node}=${LEGACY}]`,
  message: "Legacy event-stream flags were removed (ADR-001): use BRAIN_EVENTSTREAM_MODE=required|degraded.",
}));

/** Files allowed one exception each; everything else gets both restrictions. */
const PUBLISHER = "src/stream/publisher.ts";
const LEGACY_LISTS = ["src/config.ts", "test/config.test.ts"];
// The benchmark's baseline is, by definition, a bare Fastify + ioredis XADD endpoint.
const BASELINE = "bench/baseline-ingest.js";

const restrict = (syntax, properties) => ({
  "no-restricted-syntax": ["error", ...syntax],
  "no-restricted-properties": ["error", ...properties],
});

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "drizzle/", "coverage/", ".tap/", "bench/out/", "test/fixtures/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["src/**", "test/**", "bench/**"],
    ignores: [PUBLISHER, BASELINE, ...LEGACY_LISTS],
    rules: restrict([...xaddSyntax, ...legacySyntax], xaddProperties),
  },
  { files: [PUBLISHER, BASELINE], rules: restrict(legacySyntax, []) },
  { files: LEGACY_LISTS, rules: restrict(xaddSyntax, xaddProperties) },
);
