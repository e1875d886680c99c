/**
 * The ledger's hot and recovery queries keep their plans on a fresh database. postgres.js prepares
 * every statement, and after five runs Postgres may cache a generic plan made while the table was
 * still empty (before its first ANALYZE); that plan then serves the connection for its lifetime.
 * An index led by subscriber_name looked as good as the unique key to such a plan, and the dedup
 * probe scanned all of the subscriber's rows for every id (bench:deliver: 245 µs of Postgres CPU
 * per delivered event). The query texts below are those of src/db/processed-events.ts and, for the
 * dead-letter prune, src/db/dead-letters.ts.
 */
import postgres from "postgres";
import t from "tap";
import { runMigrations } from "../src/db/migrate.js";
import { createTestDatabase } from "./helpers/env.js";

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

const scans = (node: PlanNode): PlanNode[] => [
  ...(node["Index Name"] === undefined ? [] : [node]),
  ...(node.Plans ?? []).flatMap(scans),
];

t.test("plans cached on an empty ledger stay index probes once it holds rows", async (t) => {
  const url = await createTestDatabase(t);
  await runMigrations(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  await sql`alter table processed_events set (autovacuum_enabled = false)`;
  await sql`insert into subscribers (name, kind, event_types) values ('s', 'internal', '{*}')`;
  await sql`set plan_cache_mode = force_generic_plan`;
  await sql.unsafe(`prepare probe(text, text) as select hit.id
    from unnest(string_to_array($1, ',')) as t(id),
    lateral (select stream_message_id as id from processed_events
             where subscriber_name = $2 and stream_message_id = t.id limit 1) as hit`);
  await sql.unsafe(`prepare newest(text, text) as select stream_message_id from processed_events
    where subscriber_name = $1 and substr("stream_message_id", 1, strpos("stream_message_id", ':')) = $2
    order by (substr(split_part("stream_message_id", '-', 1), strpos("stream_message_id", ':') + 1)::numeric) desc,
      (split_part("stream_message_id", '-', 2)::numeric) desc
    limit 1`);
  const plan = async (statement: string) =>
    ((await sql.unsafe(`explain (format json) execute ${statement}`))[0]!["QUERY PLAN"] as [{ Plan: PlanNode }])[0]
      .Plan;
  // Planned now, on the empty table, and kept: what a gateway's first deliveries leave behind.
  await plan("probe('1764000000000-5', 's')");
  await plan("newest('s', '')");
  await sql`insert into processed_events (subscriber_name, stream_message_id, outcome)
    select 's', '1764000000000-' || i, 'delivered' from generate_series(1, 5000) as i`;
  const probe = scans(await plan("probe('1764000000000-5,1764000000000-9', 's')"));
  t.same(
    probe.map((n) => n["Index Name"]),
    ["processed_events_subscriber_msg_uq"],
    "the dedup probe seeks the unique key",
  );
  const newest = scans(await plan("newest('s', '')"));
  t.same(
    newest.map((n) => [n["Node Type"], n["Index Name"]]),
    [["Index Only Scan", "processed_events_stream_order_idx"]],
    "the NOGROUP recovery reads one tuple of the stream-order index",
  );
});

t.test("the dead-letter prune seeks letters past their age instead of scanning the table", async (t) => {
  const url = await createTestDatabase(t);
  await runMigrations(url);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  await sql`insert into subscribers (name, kind, event_types) values ('s', 'internal', '{*}')`;
  // 20,000 letters over the last 20 days, 1 % resolved: a prune that runs regularly finds few.
  await sql`insert into dead_letters (subscriber_name, stream_message_id, reason, attempts, failed_at, resolved_at)
    select 's', '1764000000000-' || i, 'gone', 1, now() - i * interval '86 seconds',
      case when i % 100 = 0 then now() - i * interval '80 seconds' end
    from generate_series(1, 20000) as i`;
  await sql`analyze dead_letters`;
  // The text src/db/dead-letters.ts pruneDeadLetters builds, with a cutoff 19 days back.
  const cutoff = new Date(Date.now() - 19 * 86_400_000).toISOString();
  const [row] = await sql.unsafe(
    `explain (format json) select "id" from "dead_letters" where ("dead_letters"."redeliver_requested_at" is null
      and coalesce("dead_letters"."resolved_at", "dead_letters"."failed_at") < $1::timestamptz) limit 5000`,
    [cutoff],
  );
  const plan = (row!["QUERY PLAN"] as [{ Plan: PlanNode }])[0].Plan;
  t.same(
    scans(plan).map((n) => n["Index Name"]),
    ["dead_letters_prune_idx"],
    "an index range over coalesce(resolved_at, failed_at)",
  );
});
