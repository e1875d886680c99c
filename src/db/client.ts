/**
 * The Postgres client: Drizzle over postgres.js. Every SQL statement of the gateway lives in
 * `src/db/` (lint enforces it); other layers call the functions of this folder with a `Db`.
 */
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "./schema.js";

/** Drizzle over postgres.js; `$client` runs the few hot statements directly. */
export type Db = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };

/** The database or a transaction on it. */
export type Executor = Pick<Db, "select" | "insert" | "update" | "delete">;

/** A pool of at most `max` connections; nothing connects before the first query. */
export function connectDb(url: string, max = 10): Db {
  const sql = postgres(url, { max, connect_timeout: 5, idle_timeout: 60, onnotice: () => {} });
  return drizzle(sql, { schema }) as Db;
}

/** Closes the pool, letting queries in flight finish for up to `timeoutSeconds`. */
export async function closeDb(db: Db, timeoutSeconds = 5): Promise<void> {
  await db.$client.end({ timeout: timeoutSeconds });
}

/** Runs `work` in one transaction: it commits when `work` resolves and rolls back when it throws. */
export function inTransaction<T>(db: Db, work: (tx: Executor) => Promise<T>): Promise<T> {
  return db.transaction(work);
}

/** One round trip (readiness, the postgres_up gauge); rejects while Postgres is unreachable. */
export async function pingDb(db: Db): Promise<void> {
  await db.$client`select 1`;
}

/** The Postgres error code behind a Drizzle-wrapped error (docs/STACK-NOTES.md §4). */
export function pgCode(err: unknown): string | undefined {
  return (err as { cause?: { code?: string }; code?: string }).cause?.code ?? (err as { code?: string }).code;
}

/** True when `err` is a foreign-key violation: the subscriber a row belongs to was deleted meanwhile. */
export function isMissingSubscriber(err: unknown): boolean {
  return pgCode(err) === "23503";
}
