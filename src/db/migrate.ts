import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";

/** The committed SQL migrations, found relative to this file in both src/ and dist/. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../../drizzle", import.meta.url));

/** Any fixed number shared by every replica: it names the advisory lock. */
const MIGRATION_LOCK_KEY = 0x62726169; // "brai"

/**
 * Applies pending migrations under a Postgres advisory lock, because drizzle's migrator has
 * none and replicas starting together would race on the same DDL (docs/STACK-NOTES.md §4).
 */
export async function runMigrations(databaseUrl: string): Promise<void> {
  // max: 1 keeps lock, migration and unlock on one session.
  const client = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await client`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}
