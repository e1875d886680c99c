import { loadConfig, maskUrl } from "../config.js";
import { runMigrations } from "../db/migrate.js";

const config = loadConfig();
try {
  await runMigrations(config.databaseUrl);
  console.log(`migrations applied to ${maskUrl(config.databaseUrl)}`);
} catch (err) {
  console.error(`migration failed on ${maskUrl(config.databaseUrl)}: ${(err as Error).message}`);
  process.exit(1);
}
