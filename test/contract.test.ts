/**
 * The contract check that every test's answers pass through (helpers/contract.ts) bites: an
 * undocumented status, or a body off the documented schema, throws.
 */
import t from "tap";
import { assertDocumented } from "./helpers/contract.js";

const json = "application/json; charset=utf-8";
const answer = (method: string, url: string, status: number, body: unknown) => ({
  method,
  url,
  status,
  contentType: json,
  body: JSON.stringify(body),
});

t.test("a documented answer with a matching body passes", async (t) => {
  t.doesNotThrow(() => assertDocumented(answer("POST", "/v1/events", 202, { id: "x", stream_message_id: "1-0" })));
  t.doesNotThrow(() =>
    assertDocumented(answer("GET", "/v1/subscribers/billing/deliveries?limit=3", 200, { deliveries: [], next: null })),
  );
});

t.test("a status the operation does not document fails", async (t) => {
  t.throws(() => assertDocumented(answer("POST", "/v1/events", 418, {})), /not a documented response/);
});

t.test("a body off the documented schema fails", async (t) => {
  t.throws(() => assertDocumented(answer("POST", "/v1/events", 202, {})), /does not match/);
  const delivery = { stream_message_id: "1-0", attempt: "one" };
  t.throws(
    () => assertDocumented(answer("GET", "/v1/subscribers/billing/deliveries", 200, { deliveries: [delivery] })),
    /does not match/,
  );
  t.throws(() => assertDocumented(answer("GET", "/v1/events", 400, { code: "X" })), /does not match/);
});

t.test("routes the document does not describe are not checked", async (t) => {
  t.doesNotThrow(() => assertDocumented(answer("GET", "/docs/static/index.html", 200, "<html>")));
});
