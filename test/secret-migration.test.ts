/**
 * The migration from one previous secret per subscriber (`previous_secret`,
 * `previous_secret_expires_at`) to a list keeps the data: a database at 0001 with a rotation in
 * its overlap, migrated to the newest schema, still signs with both secrets.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import t from "tap";
import { connectDb, closeDb } from "../src/db/client.js";
import { MIGRATIONS_FOLDER, runMigrations } from "../src/db/migrate.js";
import { generateSecret, sealSecret } from "../src/delivery/secrets.js";
import { loadSubscribers } from "../src/delivery/subscriber-config.js";
import { createTestDatabase } from "./helpers/env.js";

const KEY = "a-very-long-test-encryption-key-0123456789";

/** The committed migrations up to and including `lastTag`, in a folder of their own. */
function migrationsUpTo(t: { teardown(fn: () => unknown): void }, lastTag: string): string {
  const dir = mkdtempSync(join(tmpdir(), "brain-migrations-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(MIGRATIONS_FOLDER, dir, { recursive: true });
  const journalPath = join(dir, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string }[] };
  const last = journal.entries.findIndex((e) => e.tag === lastTag);
  if (last < 0) throw new Error(`no migration ${lastTag}`);
  journal.entries = journal.entries.slice(0, last + 1);
  writeFileSync(journalPath, JSON.stringify(journal));
  return dir;
}

t.test("previous_secret and its expiry become the first entry of previous_secrets", async (t) => {
  const url = await createTestDatabase(t);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  t.teardown(() => sql.end({ timeout: 1 }));
  await migrate(drizzle(sql), { migrationsFolder: migrationsUpTo(t, "0001_delivery_log_without_fk") });

  const [current, previous, expired] = [generateSecret(), generateSecret(), generateSecret()];
  const until = new Date(Date.now() + 3600e3);
  // The stored values move unchanged, so a sealed one still opens for its (unchanged) subscriber.
  await sql`insert into subscribers (name, url, event_types, secret, previous_secret, previous_secret_expires_at)
            values ('rotated', 'https://8.8.8.8/', ${["*"]}, ${sealSecret(current, KEY, "rotated")},
                    ${sealSecret(previous, KEY, "rotated")}, ${until.toISOString()}::timestamptz),
                   ('long-ago', 'https://8.8.8.8/', ${["*"]}, ${current}, ${expired}, now() - interval '2 days'),
                   ('never', 'https://8.8.8.8/', ${["*"]}, ${current}, null, null)`;

  await runMigrations(url);
  const rows = await sql`select name, previous_secrets from subscribers order by name`;
  t.same(
    rows.map((r) => [r.name, r.previous_secrets.length]),
    [
      ["long-ago", 1],
      ["never", 0],
      ["rotated", 1],
    ],
  );
  const moved = rows.find((r) => r.name === "rotated")!.previous_secrets[0];
  t.equal(Date.parse(moved.expires_at), until.getTime(), "the expiry is kept to the millisecond");
  const columns = await sql`select column_name from information_schema.columns
                            where table_name = 'subscribers' and column_name like 'previous%'`;
  t.same(
    columns.map((c) => c.column_name),
    ["previous_secrets"],
    "the old columns are gone",
  );

  const db = connectDb(url, 1);
  t.teardown(() => closeDb(db, 1));
  const loaded = await loadSubscribers(db, KEY);
  t.same(loaded.find((s) => s.name === "rotated")?.signingSecrets, [current, previous], "both still sign");
  t.same(loaded.find((s) => s.name === "long-ago")?.signingSecrets, [current], "an expired one does not");
});
