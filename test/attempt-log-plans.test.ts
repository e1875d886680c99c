/**
 * The delivery log's reads keep to one subscriber's rows: on a log that holds mostly other
 * subscribers' attempts, the filtered page, its cursor and the per-minute aggregates scan
 * `delivery_attempts_subscriber_at_idx`, never the table, both as planned for the values given
 * and as a generic plan (what a prepared statement may settle on after five runs).
 */
import postgres from "postgres";
import t from "tap";
import { allSubscriberMinutesQuery, subscriberMinutesQuery } from "../src/db/activity.js";
import { attemptPageQuery } from "../src/db/delivery-attempts.js";
import { runMigrations } from "../src/db/migrate.js";
import { activityWindow } from "../src/subscribers/activity.js";
import { createTestDatabase } from "./helpers/env.js";

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

/** Every node of a plan that reads a table or an index. */
const reads = (node: PlanNode): PlanNode[] => [
  ...(node["Relation Name"] === undefined && node["Index Name"] === undefined ? [] : [node]),
  ...(node.Plans ?? []).flatMap(reads),
];

const url = await createTestDatabase(t);
await runMigrations(url);
const sql = postgres(url, { max: 1, onnotice: () => {} });
t.teardown(() => sql.end({ timeout: 1 }));
// 300 subscribers with 1,000 attempts each over the last hour, outcomes and types mixed.
await sql`insert into subscribers (name, kind, event_types)
  select 's' || i, 'internal', '{*}' from generate_series(1, 300) i`;
await sql`insert into delivery_attempts
  (subscriber_name, stream_message_id, event_type, attempt, duration_ms, outcome, at)
  select 's' || (i % 300 + 1), i || '-0', 'type.' || (i % 7), 1, i % 500,
    (array['delivered', 'retry', 'dead_lettered'])[i % 3 + 1], now() - (i % 3600) * interval '1 s'
  from generate_series(1, 300000) as i`;
await sql`analyze delivery_attempts`;
await sql`analyze subscribers`;
const [cursorRow] = await sql<{ id: string }[]>`select id from delivery_attempts where subscriber_name = 's7' limit 1`;
const cursor = cursorRow!.id;

const { from, to } = activityWindow(60);
const statements = (sql: postgres.Sql) => ({
  "the filtered page": attemptPageQuery(sql, "s7", { limit: 50, outcome: "dead_lettered", eventType: "type.3" }),
  "a filtered page after a cursor": attemptPageQuery(sql, "s7", {
    limit: 50,
    outcome: "retry",
    before: Number(cursor),
  }),
  "the unfiltered page": attemptPageQuery(sql, "s7", { limit: 50 }),
  "one subscriber's minutes": subscriberMinutesQuery(sql, "s7", from, to),
  "every subscriber's minutes": allSubscriberMinutesQuery(sql, from, to),
});

// Generic plans as the server runs them: auto_explain sends each plan to this client as a LOG message.
const notices: string[] = [];
const generic = postgres(url, { max: 1, onnotice: (n) => notices.push(n["message"] as string) });
t.teardown(() => generic.end({ timeout: 1 }));
await generic`load 'auto_explain'`;
await generic`select set_config('auto_explain.log_min_duration', '0', false),
  set_config('auto_explain.log_format', 'json', false), set_config('client_min_messages', 'log', false),
  set_config('plan_cache_mode', 'force_generic_plan', false)`;
notices.length = 0;

/** The plan Postgres makes for the statement with its values, or the generic one it runs. */
async function plan(what: string, isGeneric: boolean): Promise<PlanNode> {
  if (!isGeneric) {
    const [row] = await sql`explain (format json) ${statements(sql)[what as "the unfiltered page"]}`;
    return (row!["QUERY PLAN"] as [{ Plan: PlanNode }])[0].Plan;
  }
  notices.length = 0;
  await statements(generic)[what as "the unfiltered page"];
  const logged = notices.find((m) => m.includes('"Plan"'));
  if (logged === undefined) throw new Error(`no plan logged: ${notices.join(" | ")}`);
  return (JSON.parse(logged.slice(logged.indexOf("{"))) as { Plan: PlanNode }).Plan;
}

const ALLOWED = ["delivery_attempts_subscriber_at_idx", "delivery_attempts_pkey"];

for (const generic of [false, true]) {
  for (const what of Object.keys(statements(sql))) {
    t.test(`${what}: index scans only (${generic ? "generic" : "custom"} plan)`, async (t) => {
      const found = reads(await plan(what, generic));
      t.comment(found.map((n) => `${n["Node Type"]} ${n["Relation Name"] ?? ""} ${n["Index Name"] ?? ""}`).join("; "));
      const log = found.filter(
        (n) => n["Relation Name"] === "delivery_attempts" || n["Index Name"]?.startsWith("delivery_attempts"),
      );
      t.same(
        log.filter((n) => n["Node Type"] === "Seq Scan"),
        [],
        "never a scan of the whole log",
      );
      t.same(
        log.flatMap((n) => n["Index Name"] ?? []).filter((name) => !ALLOWED.includes(name)),
        [],
        "through the subscriber's index, or the primary key for the cursor row",
      );
      t.ok(
        log.some((n) => n["Index Name"] === "delivery_attempts_subscriber_at_idx"),
        "the subscriber's rows through its index",
      );
    });
  }
}
