/**
 * docs/EVENT_SYSTEM.md and examples/: every code block of the document is an examples file as it
 * is, every path its Charter → code → test map names exists, and every example compiles (tsc,
 * strict, NodeNext, against the built package, as an application would) and runs as a child
 * process against a real gateway child, its output asserted.
 *
 * The Python receiver verifies with the `standardwebhooks` library: the installed one, or else the
 * unmodified upstream copy in test/fixtures/python (no package index is reachable from CI here).
 */
import t from "tap";
import { execFile, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { missionEvents } from "../src/catalog/index.js";
import { ADMIN_TOKEN, PUBLISH_TOKEN, ROOT, testEnv, type Test } from "./helpers/env.js";
import { call } from "./helpers/gateway.js";
import { freePort, spawnGateway } from "./helpers/processes.js";

const exec = promisify(execFile);
const NODE = process.execPath;
const DOC = readFileSync(join(ROOT, "docs/EVENT_SYSTEM.md"), "utf8");

/** Every file under examples/ that this test runs; the document may show only these. */
const EXERCISED = [
  "examples/curl/publish.sh",
  "examples/curl/subscribe.sh",
  "examples/curl/registry.sh",
  "examples/mission-control/producer.ts",
  "examples/mission-control/consumer.ts",
  "examples/mission-control/receiver.ts",
  "examples/mission-control/receiver.py",
  "examples/mission-control/publisher.ts",
  "examples/mission-control/registry.ts",
  "examples/migration/before.ts",
  "examples/migration/after.ts",
];
/** Configuration of the examples rather than examples. */
const SUPPORT = ["examples/tsconfig.json"];

// Compiling the examples against dist/ (skipLibCheck off would take minutes) plus a gateway and a
// dozen child processes: more than the suite's 120 s per file on a busy machine.
t.setTimeout(300_000);

/** What child processes inherit: enough to find node, bash, curl and python3, and nothing of tap's. */
const BASE_ENV: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter(
    (e): e is [string, string] => /^(PATH|HOME|LANG|PYTHONPATH|PYENV_.*)$/.test(e[0]) && e[1] !== undefined,
  ),
);

interface Finished {
  code: number | string;
  stdout: string;
  stderr: string;
}

interface Running {
  output(): string;
  /** Resolves with the first match in stdout; rejects when the process exits or `ms` pass first. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal), or rejects after `ms`. */
  finished(ms?: number): Promise<Finished>;
}

/** Starts a child in the repository's root; it is killed at teardown if still running. */
function start(t: Test, command: string, args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(command, args, { cwd: ROOT, env: { ...BASE_ENV, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  let code: number | string | null = null;
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (c, signal) => resolve((code = c ?? signal ?? -1))),
  );
  t.teardown(async () => {
    if (code === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  const what = `${relative(ROOT, args[0] ?? command)}`;
  const within = <T>(ms: number, promise: Promise<T>, waiting: string) =>
    Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`${what}: ${waiting} for ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`)),
          ms,
        ).unref(),
      ),
    ]);
  return {
    output: () => stdout,
    waitFor: (re, ms = 30_000) =>
      within(
        ms,
        (async () => {
          for (;;) {
            const m = re.exec(stdout);
            if (m) return m;
            if (code !== null) throw new Error(`${what} exited (${code}) before printing ${re}\n${stdout}\n${stderr}`);
            await new Promise((r) => setTimeout(r, 25));
          }
        })(),
        `no ${re}`,
      ),
    finished: (ms = 60_000) => within(ms, exited, "still running").then((c) => ({ code: c, stdout, stderr })),
  };
}

/** Runs a child to its end. */
function run(t: Test, command: string, args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return start(t, command, args, env).finished();
}

// The examples compiled where an application would have them: a project beside the package, which
// it reaches by name through node_modules (and so through the package's exports map).
const work = mkdtempSync(join(tmpdir(), "brain-examples-"));
mkdirSync(join(work, "node_modules"));
symlinkSync(ROOT, join(work, "node_modules", "brain-event-gateway"));
symlinkSync(
  realpathSync(join(ROOT, "node_modules", "standardwebhooks")),
  join(work, "node_modules", "standardwebhooks"),
);
writeFileSync(join(work, "package.json"), JSON.stringify({ private: true, type: "module" }));
const compiled = exec(
  NODE,
  [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "examples/tsconfig.json", "--outDir", join(work, "out")],
  { cwd: ROOT },
).then(
  () => "",
  (e: { stdout?: string; message: string }) => e.stdout || e.message,
);
// A run filtered to tests that never wait for tsc must not let it write into a removed directory.
t.teardown(async () => {
  await compiled;
  rmSync(work, { recursive: true, force: true });
});
/** The compiled program of an example, e.g. `mission-control/producer.js`. */
const program = (name: string) => join(work, "out", name);

const env = await testEnv(t, { BRAIN_WEBHOOK_ALLOW_PRIVATE: "true", BRAIN_RETRY_SCHEDULE: "500ms,1s" });
const gateway = await spawnGateway(t, env);
// The installed library when there is one; else the vendored upstream copy (test/fixtures/python/README.md).
const pythonEnv = await exec("python3", ["-c", "import standardwebhooks"], { env: BASE_ENV }).then(
  () => ({}),
  () => ({ PYTHONPATH: join(ROOT, "test", "fixtures", "python") }),
);

const http = { GATEWAY_URL: gateway.url, GATEWAY_TOKEN: PUBLISH_TOKEN, GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN };
const inProcess = {
  REDIS_URL: env["REDIS_URL"]!,
  DATABASE_URL: env["DATABASE_URL"]!,
  BRAIN_STREAM: env["BRAIN_STREAM"]!,
  LOG_LEVEL: "warn",
};
const meta = { schema_version: 1, producer: "examples_test", source_module: "missions" };

interface StoredEvent {
  id: string;
  type: string;
  source: string;
  payload: Record<string, unknown>;
  meta: Record<string, unknown>;
}

/** The gateway's stream, by stream message id. */
async function stored(): Promise<Map<string, StoredEvent>> {
  const { body } = await call(gateway.url, "GET", "/v1/events?limit=1000");
  return new Map(
    (body.events as { stream_message_id: string; event: StoredEvent }[]).map((e) => [e.stream_message_id, e.event]),
  );
}

/** Fenced code blocks of the document: the line of their fence, the info string, the content. */
function codeBlocks(): { line: number; info: string; content: string }[] {
  return [...DOC.matchAll(/^(`{3,}|~{3,})(.*)\n([\s\S]*?)^\1[ \t]*$/gm)].map((m) => ({
    line: DOC.slice(0, m.index).split("\n").length,
    info: m[2]!,
    content: m[3]!,
  }));
}

/** A delivery no secret signed, as an attacker would send it. */
async function forge(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/hooks/brain`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": "1-0",
      "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
      "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJlIG9mIHRoaXMgYm9keQ==",
    },
    body: JSON.stringify({ type: "mission.created", payload: { mission_id: "forged" } }),
  });
  return res.status;
}

/** Creates a subscriber with examples/curl/subscribe.sh; returns the answer (its secret included). */
async function subscribe(t: Test, name: string, port: number) {
  const res = await run(t, "bash", ["examples/curl/subscribe.sh"], {
    ...http,
    RECEIVER_URL: `http://127.0.0.1:${port}/hooks/brain`,
    SUBSCRIBER: name,
  });
  if (res.code !== 0) throw new Error(`subscribe.sh failed (${res.code}): ${res.stdout} ${res.stderr}`);
  t.teardown(() => call(gateway.url, "DELETE", `/v1/subscribers/${name}`));
  return JSON.parse(res.stdout) as { name: string; secret: string; event_types: string[]; max_in_flight: number };
}

/** What producer.ts printed: one line per event. */
function published(stdout: string, missionId: string) {
  return [...stdout.matchAll(/^(mission\.\w+) (\S+) → stream (\d+-\d+), id ([0-9a-f-]{36})$/gm)]
    .filter((m) => m[2] === missionId)
    .map((m) => ({ type: m[1]!, stream: m[3]!, id: m[4]! }));
}

/** What a receiver printed for each verified delivery, in order. */
function verified(stdout: string) {
  return [...stdout.matchAll(/^verified (\S+) (\S+) (.*) \(attempt (\d+)\)$/gm)].map((m) => [m[1], m[2], m[3]]);
}

t.test("every code block in docs/EVENT_SYSTEM.md is an examples file as it is, and one this file runs", async (t) => {
  const blocks = codeBlocks();
  const fences = DOC.split("\n").filter((l) => /^(`{3,}|~{3,})/.test(l)).length;
  t.equal(fences, blocks.length * 2, "every fence is closed");
  t.ok(blocks.length >= EXERCISED.length - 1, "the examples are shown");
  for (const { line, info, content } of blocks) {
    const file = /(?:^|\s)title=(\S+)/.exec(info)?.[1];
    if (file === undefined) {
      t.fail(`the block at line ${line} names no examples file (\`\`\`<lang> title=examples/…)`);
      continue;
    }
    t.ok(EXERCISED.includes(file), `${file} (line ${line}) is one of the examples this test runs`);
    const text = existsSync(join(ROOT, file)) ? readFileSync(join(ROOT, file), "utf8") : null;
    t.equal(content, text, `the block at line ${line} is ${file} as it is (copy the file into the block)`);
  }
});

t.test("every file under examples/ is run by this test", async (t) => {
  const files = (readdirSync(join(ROOT, "examples"), { recursive: true }) as string[])
    .map((f) => `examples/${f}`)
    .filter((f) => !f.startsWith("examples/out") && /\.[a-z]+$/.test(f));
  t.same(files.filter((f) => !EXERCISED.includes(f) && !SUPPORT.includes(f)).sort(), []);
  t.same(
    EXERCISED.filter((f) => !files.includes(f)),
    [],
    "and each one it runs exists",
  );
});

t.test("every path the Charter → code → test map names exists, and each test it quotes is in its file", async (t) => {
  const section = DOC.slice(DOC.indexOf("\n## Charter → code → test"));
  const rows = section.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| rule "));
  t.ok(rows.length >= 6, "the map has a row per Charter rule");
  let paths = 0;
  for (const row of rows) {
    for (const cell of row.split(" | ")) {
      let file: string | undefined;
      for (const [, code, quoted] of cell.matchAll(/`([^`]+)`|“([^”]+)”/g)) {
        if (code !== undefined && !/\s/.test(code) && /\/|\.(ts|js|json)$/.test(code)) {
          paths++;
          t.ok(existsSync(join(ROOT, code)), `${code} exists`);
          file = code;
        } else if (quoted !== undefined) {
          const text = file && existsSync(join(ROOT, file)) ? readFileSync(join(ROOT, file), "utf8") : "";
          t.ok(text.includes(quoted), `${file} has the test “${quoted}”`);
        }
      }
    }
  }
  t.ok(paths >= 25, `the map names its files (${paths})`);
});

t.test("the examples compile with tsc (strict, NodeNext) against the built package", async (t) => {
  const output = await compiled;
  const problems = output
    .split(/\n(?=\S)/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
  t.same(problems, [], "no diagnostics");
});

t.test("receiver.py is valid Python", async (t) => {
  // py_compile writes a .pyc: into a scratch directory, not next to the example.
  const res = await run(t, "python3", ["-m", "py_compile", "examples/mission-control/receiver.py"], {
    PYTHONPYCACHEPREFIX: join(work, "pycache"),
  });
  t.equal(res.code, 0, res.stderr);
});

t.test("the curl session: published, a batch, a replay under an Idempotency-Key, and a refusal", async (t) => {
  const res = await run(t, "bash", ["examples/curl/publish.sh"], http);
  t.equal(res.code, 0, res.stderr);
  const answers = [...res.stdout.matchAll(/^(\{.*\}) → (\d{3})(.*)$/gm)].map((m) => ({
    body: JSON.parse(m[1]!),
    status: Number(m[2]),
    rest: m[3],
  }));
  t.equal(answers.length, 5, res.stdout);
  const [one, batch, keyed, replay, refused] = answers;
  t.match(one, { status: 202, body: { id: /^[0-9a-f-]{36}$/, stream_message_id: /^\d+-\d+$/ } });
  t.match(batch, { status: 202, body: { results: [{ stream_message_id: /-/ }, { stream_message_id: /-/ }] } });
  t.equal(keyed?.status, 202);
  t.match(replay, { status: 200, rest: ", idempotent-replayed: true" });
  t.same(replay?.body, keyed?.body, "the replay is answered with the first stream id");
  t.match(refused, {
    status: 400,
    body: { code: "INVALID_ENVELOPE", details: [{ path: "/meta/source_module" }] },
  });
  const events = await stored();
  const ids = [one!.body, ...batch!.body.results, keyed!.body].map((r) => r.stream_message_id as string);
  t.same(
    ids.map((id) => events.get(id)?.type),
    ["mission.created", "mission.started", "mission.completed", "mission.created"],
    "each accepted event is in the stream once",
  );
  t.notOk(
    [...events.values()].some((e) => e.payload["mission_id"] === "m-44"),
    "the refused one is not",
  );
});

t.test(
  "mission control: the producer's lifecycle reaches the in-process consumer and the verified webhook receiver",
  async (t) => {
    await compiled;
    const port = await freePort();
    const subscriber = await subscribe(t, "mission-receiver", port);
    t.match(subscriber, { name: "mission-receiver", event_types: ["mission.*"], max_in_flight: 1, secret: /^whsec_/ });
    const receiver = start(t, NODE, [program("mission-control/receiver.js")], {
      WEBHOOK_SECRET: subscriber.secret,
      PORT: String(port),
      EXIT_AFTER: "4",
    });
    await receiver.waitFor(/^listening on http:\/\/127\.0\.0\.1:\d+$/m);
    t.equal(await forge(port), 401, "a delivery with a bad signature is answered 401");

    const consumer = start(t, NODE, [program("mission-control/consumer.js")], { ...inProcess, EXIT_AFTER: "4" });
    await consumer.waitFor(/^consuming mission events as mission-printer$/m);

    const producer = await run(t, NODE, [program("mission-control/producer.js")], { ...http, MISSION_ID: "m-7" });
    t.equal(producer.code, 0, producer.stderr);
    const lifecycle = published(producer.stdout, "m-7");
    t.same(
      lifecycle.map((e) => e.type),
      ["mission.created", "mission.started", "mission.completed"],
      producer.stdout,
    );
    const events = await stored();
    for (const e of lifecycle) {
      t.match(events.get(e.stream), { id: e.id, type: e.type, meta: { correlation_id: "m-7" } }, `${e.stream} stored`);
    }
    const paused = await call(
      gateway.url,
      "POST",
      "/v1/events",
      { type: "mission.paused", source: "mission_queue", payload: { mission_id: "m-7" }, meta },
      PUBLISH_TOKEN,
    );
    t.equal(paused.status, 202, "a newer producer's mission type");

    const printed = await consumer.finished();
    t.equal(printed.code, 0, printed.stderr);
    t.same(
      printed.stdout.split("\n").filter((l) => /^\d+-\d+ mission /.test(l)),
      [
        `${lifecycle[0]?.stream} mission m-7 created: Survey sector 7, priority high`,
        `${lifecycle[1]?.stream} mission m-7 started by rover-2`,
        `${lifecycle[2]?.stream} mission m-7 completed in 5400 ms`,
      ],
      "the consumer printed the lifecycle in stream order",
    );
    t.match(printed.stdout, /^stopped after 4 events$/m);
    const letters = await call(gateway.url, "GET", "/v1/subscribers/mission-printer/dead-letters");
    t.match(
      letters.body.dead_letters,
      [
        {
          stream_message_id: paused.body.stream_message_id,
          reason: "permanent_error",
          last_error: "mission.paused is not a mission event this printer knows",
        },
      ],
      "the unknown type became a dead letter",
    );

    const received = await receiver.finished();
    t.equal(received.code, 0, received.stderr);
    t.same(
      verified(received.stdout),
      [
        [lifecycle[0]?.stream, "mission.created", '{"mission_id":"m-7","title":"Survey sector 7","priority":"high"}'],
        [lifecycle[1]?.stream, "mission.started", '{"mission_id":"m-7","assigned_to":"rover-2","attempt":1}'],
        [lifecycle[2]?.stream, "mission.completed", '{"mission_id":"m-7","duration_ms":5400}'],
        [paused.body.stream_message_id, "mission.paused", '{"mission_id":"m-7"}'],
      ],
      "the receiver verified every mission event, in order",
    );
    t.match(received.stdout, /^rejected: /m, "and printed the forged one as rejected");
  },
);

t.test("the Python receiver verifies the deliveries of a cancelled mission", async (t) => {
  await compiled;
  const port = await freePort();
  const subscriber = await subscribe(t, "mission-receiver-py", port);
  const receiver = start(t, "python3", ["examples/mission-control/receiver.py"], {
    ...pythonEnv,
    WEBHOOK_SECRET: subscriber.secret,
    PORT: String(port),
    EXIT_AFTER: "3",
  });
  await receiver.waitFor(/^listening on http:\/\/127\.0\.0\.1:\d+$/m);
  t.equal(await forge(port), 401, "a delivery with a bad signature is answered 401");
  const producer = await run(t, NODE, [program("mission-control/producer.js"), "cancelled"], {
    ...http,
    MISSION_ID: "m-py",
  });
  t.equal(producer.code, 0, producer.stderr);
  const lifecycle = published(producer.stdout, "m-py");
  const received = await receiver.finished();
  t.equal(received.code, 0, received.stderr);
  t.same(
    verified(received.stdout),
    [
      [lifecycle[0]?.stream, "mission.created", '{"mission_id":"m-py","title":"Survey sector 7","priority":"high"}'],
      [lifecycle[1]?.stream, "mission.started", '{"mission_id":"m-py","assigned_to":"rover-2","attempt":1}'],
      [lifecycle[2]?.stream, "mission.cancelled", '{"mission_id":"m-py","reason":"operator abort"}'],
    ],
    "the receiver verified the lifecycle, in order",
  );
  t.match(received.stdout, /^rejected: /m);
});

t.test("migration: the raw dictionary and createEvent + client store the same event", async (t) => {
  await compiled;
  const before = await run(t, NODE, [program("migration/before.js")], http);
  t.equal(before.code, 0, before.stderr);
  const raw = /^202 (\{.*\})$/m.exec(before.stdout);
  t.ok(raw, before.stdout);
  const after = await run(t, NODE, [program("migration/after.js")], http);
  t.equal(after.code, 0, after.stderr);
  const sends = [...after.stdout.matchAll(/^(first|again): stream (\S+), id (\S+), replayed (true|false)$/gm)];
  t.same(
    sends.map((m) => m[4]),
    ["false", "true"],
    "sending the same event again is a replay",
  );
  t.equal(sends[1]?.[2], sends[0]?.[2], "with the first stream id");
  const events = await stored();
  const pick = (e: StoredEvent | undefined) =>
    e && { type: e.type, source: e.source, payload: e.payload, meta: e.meta };
  const fromDict = events.get(JSON.parse(raw![1]!).stream_message_id);
  t.ok(fromDict, "the dictionary was stored");
  t.same(pick(events.get(sends[0]![2]!)), pick(fromDict), "as the same event as createEvent built");
});

t.test("the in-process publisher appends a mission's events to the stream", async (t) => {
  await compiled;
  const res = await run(t, NODE, [program("mission-control/publisher.js")], { ...inProcess, MISSION_ID: "m-pub" });
  t.equal(res.code, 0, res.stderr);
  const lines = [...res.stdout.matchAll(/^(mission\.\w+) m-pub → stream (\d+-\d+)$/gm)];
  const events = await stored();
  t.same(
    lines.map((m) => [m[1], events.get(m[2]!)?.type]),
    [
      ["mission.created", "mission.created"],
      ["mission.started", "mission.started"],
      ["mission.cancelled", "mission.cancelled"],
    ],
    res.stdout,
  );
});

t.test("the registry with curl: registered, listed, a mismatching payload refused, deleted", async (t) => {
  const res = await run(t, "bash", ["examples/curl/registry.sh"], http);
  t.equal(res.code, 0, res.stderr);
  const answers = [...res.stdout.matchAll(/^(.*) → (\d{3})$/gm)].map((m) => ({
    status: Number(m[2]),
    body: m[1] ? JSON.parse(m[1]) : null,
  }));
  t.match(answers, [
    { status: 201, body: { type: "robot.moved" } },
    { status: 200, body: { event_types: [{ type: "robot.moved" }] } },
    { status: 400, body: { code: "PAYLOAD_SCHEMA_MISMATCH", details: [{ path: "/payload/robot_id" }] } },
    { status: 204 },
  ]);
});

t.test("the registry with the client: the catalog registered, a payload off its schema refused", async (t) => {
  t.teardown(async () => {
    for (const type of Object.keys(missionEvents)) await call(gateway.url, "DELETE", `/v1/event-types/${type}`);
  });
  await compiled;
  const res = await run(t, NODE, [program("mission-control/registry.js")], http);
  t.equal(res.code, 0, res.stderr);
  t.match(res.stdout, new RegExp(`^registered ${Object.keys(missionEvents).join(", ")}$`, "m"));
  t.match(res.stdout, /^refused: 400 PAYLOAD_SCHEMA_MISMATCH \[\{"path":"\/payload\/mission_id"/m);
});
