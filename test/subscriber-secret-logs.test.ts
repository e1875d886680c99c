/**
 * Secrets never reach a log line, even when a write of a secret-bearing row fails: the driver's
 * error would carry the query parameters (a subscriber's Authorization header, a secret) and
 * Postgres' own detail can quote the whole row. Here a trigger in this test's database refuses
 * every UPDATE of `subscribers`, as a constraint violation would, quoting the row in its detail.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import postgres from "postgres";
import t from "tap";
import { build } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { ADMIN_TOKEN } from "./helpers/env.js";
import { testEnv } from "./helpers/env.js";
import { auth } from "./helpers/http.js";

let logged = "";
const stream = new Writable({
  write(chunk: Buffer, _encoding, done) {
    logged += chunk.toString();
    done();
  },
});
const env = await testEnv(t, { BRAIN_ROLE: "api" });
const app = await build(loadConfig(env), { level: "info", stream });
t.teardown(() => app.close());
const sql = postgres(env["DATABASE_URL"]!, { max: 1, onnotice: () => {} });
t.teardown(() => sql.end({ timeout: 1 }));

const admin = auth(ADMIN_TOKEN);
const HEADER = `Bearer receiver-credential-${randomBytes(8).toString("hex")}`;

/** Makes every UPDATE of `subscribers` fail with `errcode`, its detail quoting the row as Postgres' own errors do. */
const refuseUpdates = (errcode: string) =>
  sql.unsafe(`
    create or replace function refuse_update() returns trigger language plpgsql as $$
    begin
      raise exception 'updates are refused by this test' using errcode = '${errcode}',
        detail = 'Failing row contains ' || new::text;
    end $$;
    create or replace trigger refuse_update before update on subscribers
      for each row execute function refuse_update();`);

const created = await app.inject({
  method: "POST",
  url: "/v1/subscribers",
  headers: admin,
  payload: { name: "leaky", url: "https://8.8.8.8/hook", event_types: ["*"], headers: { authorization: HEADER } },
});
const secret = created.json().secret as string;

t.test("a failing PATCH, rotation or overlap end answers a clean 500 and logs neither header nor secret", async (t) => {
  t.equal(created.statusCode, 201);
  await refuseUpdates("P0001");
  logged = "";
  const calls = [
    { method: "PATCH" as const, url: "/v1/subscribers/leaky", payload: { headers: { authorization: `${HEADER}-2` } } },
    { method: "PATCH" as const, url: "/v1/subscribers/leaky", payload: { description: "touched" } },
    { method: "POST" as const, url: "/v1/subscribers/leaky/rotate-secret" },
    { method: "DELETE" as const, url: "/v1/subscribers/leaky/previous-secrets" },
  ];
  for (const call of calls) {
    const res = await app.inject({ ...call, headers: admin });
    t.same(
      res.json(),
      { statusCode: 500, code: "INTERNAL_ERROR", error: "Internal Server Error", message: "internal error" },
      `${call.method} ${call.url}: the shared shape, nothing of the cause`,
    );
  }
  t.equal(logged.match(/"request failed"/g)?.length, calls.length, "each failure was logged");
  t.match(logged, /P0001/, "the log still says what failed");
  t.notOk(logged.includes(HEADER), "the Authorization header value is not in the log");
  t.notOk(logged.includes(secret.slice(6)), "the secret is not in the log");
  t.notOk(logged.includes("whsec_"), "no secret at all is in the log");
  t.notOk(logged.includes("Failing row"), "Postgres' detail quoting the row is not in the log");
});

t.test("a secret-bearing write failing because Postgres is going away is still a 503 with Retry-After", async (t) => {
  await refuseUpdates("57P01");
  logged = "";
  const res = await app.inject({
    method: "PATCH",
    url: "/v1/subscribers/leaky",
    headers: admin,
    payload: { headers: { authorization: `${HEADER}-3` } },
  });
  t.equal(res.statusCode, 503);
  t.equal(res.headers["retry-after"], "5");
  t.match(res.json(), { statusCode: 503, code: "DATABASE_UNAVAILABLE" });
  t.match(logged, /"request failed"/);
  t.notOk(logged.includes(HEADER), "the Authorization header value is not in the log");
  t.notOk(logged.includes("whsec_"), "no secret is in the log");
});
