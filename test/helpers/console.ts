/** The built console (dist/console), which `npm test` builds before tap runs. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CONSOLE_DIR } from "../../src/plugins/console.js";

/** The built index.html and asset names; throws with what to run when the console was not built. */
export function consoleAssets(): { index: string; files: string[] } {
  const index = join(CONSOLE_DIR, "index.html");
  if (!existsSync(index)) throw new Error(`${index} is missing: run \`npm run build:console\` first`);
  return { index: readFileSync(index, "utf8"), files: readdirSync(join(CONSOLE_DIR, "assets")) };
}
