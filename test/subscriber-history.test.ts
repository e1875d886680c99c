/** The delivery log and dead-letter views of a subscriber (docs/CONTRACT.md §3 (e), (f)). */
import t from "tap";
import { deadLetters, deliveryAttempts } from "../src/db/schema.js";
import { buildApp } from "./helpers/app.js";
import { ADMIN_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";

const { app } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_MAX_EVENT_LOOP_DELAY_MS: "0" });
const admin = auth(ADMIN_TOKEN);
const create = (name: string) =>
  app.inject({
    method: "POST",
    url: "/v1/subscribers",
    headers: admin,
    payload: { name, url: "https://8.8.8.8/hook", event_types: ["*"] },
  });

t.test("the delivery log and dead letters are listed newest first with a limit", async (t) => {
  await create("logged");
  const at = (s: number) => new Date(Date.UTC(2026, 10, 26, 12, 0, s));
  await app.db.insert(deliveryAttempts).values(
    [1, 2, 3].map((n) => ({
      subscriberName: "logged",
      streamMessageId: `${n}-0`,
      eventId: `e${n}`,
      attempt: n,
      statusCode: n === 3 ? 200 : 503,
      error: n === 3 ? null : "HTTP 503",
      durationMs: 10 * n,
      outcome: n === 3 ? ("delivered" as const) : ("retry" as const),
      at: at(n),
    })),
  );
  const envelope = {
    id: "e7",
    type: "x.y",
    source: "s",
    payload: {},
    meta: { schema_version: 1, producer: "p", source_module: "m" },
  };
  await app.db.insert(deadLetters).values([
    {
      subscriberName: "logged",
      streamMessageId: "7-0",
      eventId: "e7",
      reason: "permanent_status",
      lastStatusCode: 400,
      lastError: "HTTP 400",
      attempts: 1,
      event: JSON.stringify(envelope),
      failedAt: at(7),
    },
    {
      subscriberName: "logged",
      streamMessageId: "8-0",
      reason: "trimmed",
      attempts: 2,
      failedAt: at(8),
      resolvedAt: at(9),
    },
    {
      subscriberName: "logged",
      streamMessageId: "9-0",
      eventId: "old",
      reason: "gone",
      lastStatusCode: 410,
      attempts: 1,
      event: '{"type":"old.one","source":"legacy","payload":{}}',
      failedAt: at(6),
    },
  ]);

  const d = await app.inject({ method: "GET", url: "/v1/subscribers/logged/deliveries?limit=2", headers: admin });
  t.equal(d.statusCode, 200);
  t.same(d.json().deliveries, [
    {
      stream_message_id: "3-0",
      event_id: "e3",
      event_type: null,
      attempt: 3,
      status_code: 200,
      error: null,
      duration_ms: 30,
      outcome: "delivered",
      at: at(3).toISOString(),
    },
    {
      stream_message_id: "2-0",
      event_id: "e2",
      event_type: null,
      attempt: 2,
      status_code: 503,
      error: "HTTP 503",
      duration_ms: 20,
      outcome: "retry",
      at: at(2).toISOString(),
    },
  ]);
  t.equal(
    (await app.inject({ method: "GET", url: "/v1/subscribers/logged/deliveries?limit=501", headers: admin }))
      .statusCode,
    400,
  );

  const dl = (await app.inject({ method: "GET", url: "/v1/subscribers/logged/dead-letters", headers: admin })).json()
    .dead_letters;
  t.same(
    dl.map((x: { stream_message_id: string }) => x.stream_message_id),
    ["8-0", "7-0", "9-0"],
  );
  t.match(dl[0], { reason: "trimmed", event: null, resolved_at: at(9).toISOString() });
  t.same(dl[1], {
    stream_message_id: "7-0",
    event_id: "e7",
    reason: "permanent_status",
    last_status_code: 400,
    last_error: "HTTP 400",
    attempts: 1,
    failed_at: at(7).toISOString(),
    resolved_at: null,
    event: envelope,
  });
  t.same(
    dl[2].event.meta,
    { schema_version: 1, producer: "legacy", source_module: "unknown" },
    "an entry without meta shows the default meta",
  );
  const open = (
    await app.inject({
      method: "GET",
      url: "/v1/subscribers/logged/dead-letters?unresolved=true&limit=1",
      headers: admin,
    })
  ).json();
  t.same(
    open.dead_letters.map((x: { stream_message_id: string }) => x.stream_message_id),
    ["7-0"],
  );

  for (const path of ["deliveries", "dead-letters"]) {
    t.equal(
      (await app.inject({ method: "GET", url: `/v1/subscribers/nobody/${path}`, headers: admin })).statusCode,
      404,
    );
  }
});
