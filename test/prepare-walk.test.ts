import t from "tap";
import fc from "fast-check";
import { inspect, withinLimits } from "../src/ingest/prepare.js";

// prepare() trusts the allocation-free withinLimits() for every envelope and asks inspect() for
// the path only when it fails: if the two ever disagreed, a too-deep payload or a rounded number
// would be stored silently, or a valid envelope refused.
const number = fc.oneof(
  fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -(2 ** 60), 1e300, -1e300, 0.5, -0),
);
const key = fc.oneof(fc.string({ maxLength: 5 }), fc.constantFrom("__proto__", "constructor", "valueOf", "0", "a/b~c"));
const json = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "medium", maxDepth: 8 },
    number,
    fc.string({ maxLength: 3 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(key, tie("value"), { maxKeys: 3 }),
  ),
})).value;

t.test("withinLimits agrees with inspect on every JSON value, at every depth limit", async (t) => {
  let failing = 0;
  fc.assert(
    fc.property(json, fc.integer({ min: 0, max: 6 }), (value, maxDepth) => {
      // Through JSON, as the gateway sees a body: __proto__ becomes an own key.
      const parsed = JSON.parse(JSON.stringify({ payload: value })) as object;
      const ok = withinLimits(parsed, 0, maxDepth);
      if (!ok) failing++;
      return ok === (inspect(parsed, maxDepth) === null);
    }),
    { numRuns: 3000 },
  );
  t.ok(failing > 100, `the generator reaches both verdicts (${failing} of 3000 failed)`);
});

t.test("a hostile depth fails without overflowing the stack", async (t) => {
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  t.equal(withinLimits({ payload: deep }, 0, 64), false);
  t.equal(inspect({ payload: deep }, 64)?.problem, "depth");
});
