/**
 * The client and the catalog run inside other applications: their compiled import graph (dist/,
 * built by `npm run build`) reaches no server dependency. The walk follows every relative import
 * from each file of dist/client and dist/catalog, JavaScript and declarations alike, and collects
 * the bare specifiers; only node: built-ins, typebox and uuid may appear.
 */
import t from "tap";
import { readdirSync, readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { ROOT } from "./helpers/env.js";

const DIST = join(ROOT, "dist");
const ALLOWED = (specifier: string) => isBuiltin(specifier) || /^typebox(\/|$)/.test(specifier) || specifier === "uuid";

/** Every file reached from `roots` through relative imports, and every bare specifier on the way. */
function walk(roots: string[]): { files: Set<string>; bare: Map<string, string> } {
  const files = new Set<string>();
  const bare = new Map<string, string>(); // specifier → first file importing it
  const queue = [...roots];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    for (const { fileName: specifier } of importedFiles) {
      if (specifier.startsWith(".")) {
        // Declarations import "./x.js" and mean "./x.d.ts".
        const target = resolve(dirname(file), specifier);
        queue.push(file.endsWith(".d.ts") ? target.replace(/\.js$/, ".d.ts") : target);
      } else if (!bare.has(specifier)) {
        bare.set(specifier, relative(ROOT, file));
      }
    }
  }
  return { files, bare };
}

const entries = (ext: string) =>
  ["client", "catalog"].flatMap((dir) =>
    readdirSync(join(DIST, dir))
      .filter((name) => name.endsWith(ext) && (ext === ".d.ts" || !name.endsWith(".d.ts")))
      .map((name) => join(DIST, dir, name)),
  );

t.test("dist/client and dist/catalog import nothing but node: built-ins, typebox and uuid", async (t) => {
  for (const ext of [".js", ".d.ts"]) {
    const roots = entries(ext);
    t.ok(
      roots.some((f) => f.endsWith(`client/index${ext}`)),
      `dist/client/index${ext} is built`,
    );
    t.ok(
      roots.some((f) => f.endsWith(`catalog/index${ext}`)),
      `dist/catalog/index${ext} is built`,
    );
    const { files, bare } = walk(roots);
    const forbidden = [...bare].filter(([specifier]) => !ALLOWED(specifier)).map(([s, from]) => `${s} (${from})`);
    t.same(forbidden, [], `${ext}: ${files.size} files, bare imports: ${[...bare.keys()].join(", ")}`);
    t.ok(files.has(join(DIST, `schemas/envelope${ext}`)), `${ext}: the walk reached the shared envelope schema`);
  }
});

t.test("the walk does find server dependencies where they are (dist/server.js)", async (t) => {
  const { bare } = walk([join(DIST, "server.js")]);
  for (const name of ["fastify", "ioredis", "postgres", "drizzle-orm", "prom-client"]) {
    t.ok(
      [...bare.keys()].some((s) => s === name || s.startsWith(`${name}/`)),
      `${name} is reached`,
    );
  }
});
