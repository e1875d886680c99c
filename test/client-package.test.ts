/**
 * The package as an application gets it: `npm pack` (its prepack builds dist/ from scratch) in a
 * copy of the repository, the tarball unpacked into a fresh project's node_modules, and a program
 * that imports `brain-event-gateway/client` and `/catalog` compiled by tsc and run against a real
 * gateway; then, with the server's dependencies beside it, a program using the main entry's
 * in-process consumer. `npm install <tarball> --offline` cannot work here (the server's own dependencies are not
 * in the npm cache), so the tarball is unpacked where npm would put it, next to the only packages
 * the client may need (typebox, uuid) and @types/node for tsc: if the client reached any other
 * dependency, the program would fail to run.
 */
import t from "tap";
import { execFile } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ADMIN_TOKEN, PUBLISH_TOKEN, ROOT, testEnv } from "./helpers/env.js";
import { call } from "./helpers/gateway.js";
import { spawnGateway } from "./helpers/processes.js";

const run = promisify(execFile);
const SOURCES = [
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.build.json",
  "vite.config.ts",
  "README.md",
];
const DIRS = ["src", "drizzle", "openapi", "docs"];

const PROGRAM = `
import { BrainApiError, BrainEventsClient } from "brain-event-gateway/client";
import { createEvent, missionEvents } from "brain-event-gateway/catalog";

const client = new BrainEventsClient<typeof missionEvents>({
  baseUrl: process.env["GATEWAY_URL"]!,
  token: process.env["GATEWAY_TOKEN"]!,
});
const from = { source: "packaged_app", producer: "package_test", source_module: "main" };
const one = await client.publish(
  createEvent(missionEvents, "mission.created", { mission_id: "m-pkg", title: "from the tarball" }, from),
);
const batch = await client.publishBatch([
  createEvent(missionEvents, "mission.started", { mission_id: "m-pkg" }, from),
  createEvent(missionEvents, "mission.failed", { mission_id: "m-pkg", error: "out of fuel" }, from),
]);
const meta = { schema_version: 7, producer: "p", source_module: "m" };
const error = await client
  .publish({ type: "mission.started", source: "s", payload: { mission_id: "m" }, meta })
  .catch((e: unknown) => e);
if (!(error instanceof BrainApiError)) throw new Error("expected a BrainApiError");

export function neverCalled() {
  // @ts-expect-error the catalog's payload types reach this app through the package's declarations
  return createEvent(missionEvents, "mission.created", { mission_id: 42 }, from);
}

const { statusCode, code, details } = error;
const resolved = import.meta.resolve("brain-event-gateway/client");
console.log(JSON.stringify({ one, batch, error: { statusCode, code, details }, resolved }));
`;

/** The main entry, which needs the server's dependencies: an in-process consumer typed by the catalog. */
const CONSUMER_PROGRAM = `
import { createEventConsumer, PermanentError } from "brain-event-gateway";
import { missionEvents } from "brain-event-gateway/catalog";

const received: string[] = [];
const consumer = createEventConsumer({
  name: "packaged-consumer",
  catalog: missionEvents,
  startFrom: "earliest",
  handlers: {
    "mission.created": async (e) => void received.push(e.event.payload.mission_id + ":" + e.event.payload.title),
    "mission.failed": async (e) => {
      received.push(e.event.payload.mission_id + ":" + e.event.payload.error);
      throw new PermanentError("kept as a dead letter");
    },
  },
});
await consumer.start();
const deadline = Date.now() + 20_000;
while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
await consumer.stop(2000);
console.log(JSON.stringify({ received, resolved: import.meta.resolve("brain-event-gateway") }));
`;

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    // Checking all of @types/node and typebox takes 20 s; the program's own use of the package's
    // types (and its @ts-expect-error) still fails to compile if a declaration went missing.
    skipLibCheck: true,
    types: ["node"],
    outDir: "out",
  },
  files: ["main.ts"],
};

// Building all of src (prepack) and compiling the program take a minute or more on a busy machine:
// more than the suite's 120 s per file would leave as margin.
t.setTimeout(300_000);

t.test(
  "npm pack, unpack into a fresh project, compile and run programs using client, catalog and consumer",
  async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), "brain-pack-"));
    t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

    // A copy of the repository: prepack empties and rebuilds dist/, which the other test files are running.
    const repo = join(tmp, "repo");
    for (const entry of [...SOURCES, ...DIRS]) cpSync(join(ROOT, entry), join(repo, entry), { recursive: true });
    symlinkSync(realpathSync(join(ROOT, "node_modules")), join(repo, "node_modules"));
    const env = { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false" };
    const packed = await run("npm", ["pack", "--json", "--offline", "--pack-destination", tmp], { cwd: repo, env });
    const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
    const paths = files.map((f) => f.path);

    for (const path of [
      "package.json",
      "README.md",
      "dist/client/index.js",
      "dist/client/index.d.ts",
      "dist/catalog/index.js",
      "dist/catalog/index.d.ts",
      "dist/schemas/envelope.d.ts",
      "dist/server.js",
      "drizzle/meta/_journal.json",
      "openapi/openapi.json",
    ]) {
      t.ok(paths.includes(path), `the tarball holds ${path}`);
    }
    const stray = paths.filter((p) => /^(test|src|bench|\.ci|\.tap|coverage|node_modules)\/|\.test\.|\.map$/.test(p));
    t.same(stray, [], "and no tests, sources, source maps or tooling");

    // Where npm would unpack it, beside only the packages the client may import.
    const app = join(tmp, "app");
    const pkg = join(app, "node_modules", "brain-event-gateway");
    mkdirSync(pkg, { recursive: true });
    await run("tar", ["-xzf", join(tmp, filename), "-C", pkg, "--strip-components=1"]);
    for (const dep of ["typebox", "uuid", "@types/node"]) {
      mkdirSync(join(app, "node_modules", dep, ".."), { recursive: true });
      symlinkSync(realpathSync(join(ROOT, "node_modules", dep)), join(app, "node_modules", dep));
    }
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    writeFileSync(join(app, "tsconfig.json"), JSON.stringify(TSCONFIG));
    writeFileSync(join(app, "main.ts"), PROGRAM);

    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const compiled = await run(process.execPath, [tsc, "-p", app]).then(
      () => "",
      (e: { stdout: string }) => e.stdout,
    );
    t.equal(compiled, "", "tsc compiles the program against the package's declarations");

    const gwEnv = await testEnv(t);
    const gw = await spawnGateway(t, gwEnv);
    const output = await run(process.execPath, [join(app, "out", "main.js")], {
      cwd: app,
      env: { PATH: process.env["PATH"] ?? "", GATEWAY_URL: gw.url, GATEWAY_TOKEN: PUBLISH_TOKEN },
    });
    const result = JSON.parse(output.stdout);
    t.equal(result.resolved, `file://${realpathSync(pkg)}/dist/client/index.js`, "resolved through the exports map");
    t.match(result.one, { id: String, stream_message_id: String, replayed: false });
    t.equal(result.batch.length, 2);
    t.match(result.error, {
      statusCode: 400,
      code: "UNSUPPORTED_SCHEMA_VERSION",
      details: [{ path: "/meta/schema_version" }],
    });

    const { body } = await call(gw.url, "GET", "/v1/events?limit=10", undefined, ADMIN_TOKEN);
    t.same(
      body.events.map((e: { stream_message_id: string; event: { type: string } }) => [
        e.stream_message_id,
        e.event.type,
      ]),
      [
        [result.one.stream_message_id, "mission.created"],
        [result.batch[0].stream_message_id, "mission.started"],
        [result.batch[1].stream_message_id, "mission.failed"],
      ],
      "the gateway stored what the program published",
    );
    t.same(body.events[0].event.payload, { mission_id: "m-pkg", title: "from the tarball" });

    const deep = await run(
      process.execPath,
      ["--input-type=module", "-e", 'import "brain-event-gateway/dist/server.js"'],
      {
        cwd: app,
      },
    ).then(
      () => "imported",
      (e: { stderr: string }) => e.stderr,
    );
    t.match(deep, /ERR_PACKAGE_PATH_NOT_EXPORTED/, "nothing outside the exports map can be imported");

    // The main entry runs on the server's dependencies, as npm would install them beside the package.
    const dependencies = Object.keys(JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).dependencies);
    for (const dep of dependencies.filter((d) => !existsSync(join(app, "node_modules", d)))) {
      mkdirSync(join(app, "node_modules", dep, ".."), { recursive: true });
      symlinkSync(realpathSync(join(ROOT, "node_modules", dep)), join(app, "node_modules", dep));
    }
    writeFileSync(join(app, "consumer.ts"), CONSUMER_PROGRAM);
    writeFileSync(join(app, "tsconfig.consumer.json"), JSON.stringify({ ...TSCONFIG, files: ["consumer.ts"] }));
    const consumerCompiled = await run(process.execPath, [tsc, "-p", join(app, "tsconfig.consumer.json")]).then(
      () => "",
      (e: { stdout: string }) => e.stdout,
    );
    t.equal(consumerCompiled, "", "tsc compiles the consumer against the main entry's declarations");
    const consumed = await run(process.execPath, [join(app, "out", "consumer.js")], {
      cwd: app,
      env: { PATH: process.env["PATH"] ?? "", ...gwEnv, LOG_LEVEL: "silent" },
    });
    const got = JSON.parse(consumed.stdout);
    t.equal(
      got.resolved,
      `file://${realpathSync(pkg)}/dist/index.js`,
      "the main entry resolved through the exports map",
    );
    t.same(got.received, ["m-pkg:from the tarball", "m-pkg:out of fuel"], "the handlers got the catalog's events");
    const dead = await call(gw.url, "GET", "/v1/subscribers/packaged-consumer/dead-letters", undefined, ADMIN_TOKEN);
    t.match(dead.body.dead_letters, [
      { stream_message_id: result.batch[1].stream_message_id, reason: "permanent_error" },
    ]);
  },
);
