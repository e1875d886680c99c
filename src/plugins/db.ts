import fp from "fastify-plugin";
import { maskUrl, type Config } from "../config.js";
import { closeDb, connectDb, type Db } from "../db/client.js";
import { runMigrations } from "../db/migrate.js";
import { StartupError } from "../errors.js";

declare module "fastify" {
  interface FastifyInstance {
    db: Db;
    /** Resolves once migrations are applied (at once in `required` mode). */
    dbReady: Promise<void>;
  }
}

const MIGRATION_RETRY_MS = 5000;

/**
 * Postgres through Drizzle. Migrations run at start under an advisory lock; in `required` mode
 * an unreachable database stops the start-up, in `degraded` mode they are retried until it is back.
 */
export default fp(
  async (app, opts: { config: Config }) => {
    const { config } = opts;
    const db = connectDb(config.databaseUrl);
    let closed = false;
    let dbReady: Promise<void>;
    if (config.mode === "required") {
      try {
        await runMigrations(config.databaseUrl);
      } catch (err) {
        await closeDb(db, 1);
        throw new StartupError(
          `cannot reach Postgres at ${maskUrl(config.databaseUrl)} (${(err as Error).message}): ` +
            "start PostgreSQL or set DATABASE_URL",
        );
      }
      dbReady = Promise.resolve();
    } else {
      dbReady = (async () => {
        for (;;) {
          try {
            return await runMigrations(config.databaseUrl);
          } catch (err) {
            if (closed) return;
            app.log.warn({ err: (err as Error).message }, "postgres unavailable; migrations will be retried");
            await new Promise((r) => setTimeout(r, MIGRATION_RETRY_MS).unref());
          }
        }
      })();
    }
    app.decorate("db", db);
    app.decorate("dbReady", dbReady);
    app.addHook("onClose", async () => {
      closed = true;
      await closeDb(db);
    });
  },
  { name: "db", fastify: "5.x" },
);
