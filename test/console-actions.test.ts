/**
 * The console's actions in a real browser against a real gateway and real receivers: rotating a
 * subscriber's secret (the one shown is the one that signs), redelivering dead letters in bulk,
 * and starting a replay whose progress the page follows to the end.
 */
import t from "tap";
import { Webhook } from "standardwebhooks";
import { launch, noBrowser, screenshot, unnamedControls, unreachableByTab } from "./helpers/browser.js";
import { createSubscriber, FAST_ENV, publish } from "./helpers/delivery.js";
import { ADMIN_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";
import { buildApp } from "./helpers/app.js";
import { startReceiver, type Received } from "./helpers/receiver.js";

const admin = auth(ADMIN_TOKEN);

/** What a receiver holding `secret` concludes, with the reference Standard Webhooks library. */
const verifies = (secret: string, req: Received) => {
  try {
    new Webhook(secret).verify(req.body, {
      "webhook-id": String(req.headers["webhook-id"]),
      "webhook-timestamp": String(req.headers["webhook-timestamp"]),
      "webhook-signature": String(req.headers["webhook-signature"]),
    });
    return true;
  } catch {
    return false;
  }
};

t.test("the console's actions in a real browser, against a real gateway", { skip: noBrowser }, async (t) => {
  // A claim idle time above the replay subscriber's timeout_ms, which must stay below it.
  const env = { ...FAST_ENV, BRAIN_CLAIM_IDLE_MS: "10000", BRAIN_ROLE: "all", BRAIN_TRIM_INTERVAL_MS: "0" };
  const { app } = await buildApp(t, env);
  const base = await app.listen({ port: 0, host: "127.0.0.1" });
  const browser = await launch(t);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  const external: string[] = [];
  const problems: string[] = [];
  const dialogs: string[] = [];
  /** How the next confirmation is answered. */
  let confirm = true;
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) external.push(r.url());
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy/i.test(m.text())) problems.push(m.text());
  });
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void (confirm ? d.accept() : d.dismiss());
  });
  const openSubscriber = async (name: string) => {
    await page.getByRole("link", { name: "Subscribers", exact: true }).click();
    await page.getByRole("row").filter({ hasText: name }).getByRole("link", { name, exact: true }).click();
    await page.getByRole("heading", { name: `Subscriber ${name}` }).waitFor();
  };
  const getSubscriber = async (name: string) =>
    (await app.inject({ url: `/v1/subscribers/${name}`, headers: admin })).json() as {
      previous_secrets_expire_at: string[];
    };

  await page.goto(`${base}/console`);
  await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Subscribers", exact: true }).waitFor();

  await t.test("rotate the secret: asked first, shown once with a copy button, and it signs", async (t) => {
    const receiver = await startReceiver(t);
    const name = "rotate-hooks";
    const { secret: first } = await createSubscriber(app, { name, url: receiver.url, event_types: ["rot.*"] });
    await openSubscriber(name);

    confirm = false;
    await page.getByRole("button", { name: "Rotate secret" }).click();
    t.match(dialogs.at(-1), `Rotate the signing secret of ${name}?`, "a confirmation was asked");
    t.equal(await page.getByLabel("New signing secret").count(), 0, "declined: no secret shown");

    confirm = true;
    const secret = page.getByLabel("New signing secret");
    const copied = page.getByRole("status").filter({ hasText: "Copied." });
    await page.getByRole("button", { name: "Rotate secret" }).click();
    const second = (await secret.textContent()) ?? "";
    t.match(second, /^whsec_[A-Za-z0-9+/]+={0,2}$/, "the new secret is shown");
    t.not(second, first, "it is a new one");
    t.equal(
      (await getSubscriber(name)).previous_secrets_expire_at.length,
      1,
      "one rotation happened: the declined one made none",
    );
    await page.getByRole("button", { name: "Copy secret" }).click();
    await copied.waitFor();
    t.equal(await page.evaluate(() => navigator.clipboard.readText()), second, "the clipboard holds the secret");

    // A second rotation replaces the shown secret, and "Copied." does not carry over to it.
    await page.getByRole("button", { name: "Rotate secret" }).click();
    await secret.filter({ hasNotText: second }).waitFor();
    const shown = (await secret.textContent()) ?? "";
    t.match(shown, /^whsec_/);
    t.equal(await copied.count(), 0, "the new secret is not marked as copied");
    await page.getByRole("button", { name: "Copy secret" }).click();
    await copied.waitFor();
    t.equal(await page.evaluate(() => navigator.clipboard.readText()), shown, "the clipboard holds the newest");
    t.same(await unnamedControls(page), [], "every control has an accessible name");
    t.same((await unreachableByTab(page)).missed, [], "Tab reaches the copy button and every other control");
    await screenshot(page, "console-rotated-secret.png");

    // During the overlap every rotated-out secret signs too; once it is ended only the shown one does.
    const deliverOne = async () => {
      await app.dispatcher.reload();
      const id = await publish(app, { type: "rot.check" });
      const [req] = await receiver.waitFor(1, 10_000, (r) => r.headers["webhook-id"] === id);
      return req!;
    };
    const overlap = await deliverOne();
    t.ok(verifies(shown, overlap), "the shown secret verifies a delivery");
    t.ok(verifies(second, overlap) && verifies(first, overlap), "the rotated-out ones too, during the overlap");
    const ended = await app.inject({
      method: "DELETE",
      url: `/v1/subscribers/${name}/previous-secrets`,
      headers: admin,
    });
    t.equal(ended.statusCode, 204);
    const after = await deliverOne();
    t.ok(verifies(shown, after), "after the overlap, the shown secret verifies");
    t.notOk(verifies(second, after) || verifies(first, after), "and the rotated-out ones no longer do");

    // A refused rotation says why; the next one that succeeds clears it.
    for (let i = 0; i < 10; i++) {
      const res = await app.inject({ method: "POST", url: `/v1/subscribers/${name}/rotate-secret`, headers: admin });
      t.equal(res.statusCode, 200);
    }
    await page.getByRole("button", { name: "Rotate secret" }).click();
    const refused = page.getByRole("alert").filter({ hasText: "rotated-out secrets still signing" });
    await refused.waitFor();
    await app.inject({ method: "DELETE", url: `/v1/subscribers/${name}/previous-secrets`, headers: admin });
    await page.getByRole("button", { name: "Rotate secret" }).click();
    await secret.filter({ hasNotText: shown }).waitFor();
    t.equal(await refused.count(), 0, "the refusal is gone once a rotation succeeded");
    const last = (await secret.textContent()) ?? "";

    await page.getByRole("link", { name: "← All subscribers" }).click();
    await page.getByRole("heading", { name: "Subscribers", exact: true }).waitFor();
    await openSubscriber(name);
    await page.getByRole("button", { name: "Rotate secret" }).waitFor();
    t.equal(await page.getByLabel("New signing secret").count(), 0, "away and back: the secret is gone");
    t.notMatch(await page.content(), last, "nowhere on the page");
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }));
    t.notMatch(stored, last, "nor kept in the browser's storage");
  });

  await t.test("bulk redeliver: the selected dead letters, after a confirmation, are all delivered", async (t) => {
    const receiver = await startReceiver(t);
    receiver.answer = () => ({ status: 500 });
    const name = "bulk-hooks";
    await createSubscriber(app, { name, url: receiver.url, event_types: ["bulk.*"], max_attempts: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await publish(app, { type: "bulk.failed", payload: { n: i } }));
    await openSubscriber(name);
    const letters = page.getByRole("table", { name: "Dead letters" });
    const letter = (id: string) => letters.getByRole("row").filter({ hasText: id });
    for (const id of ids) await letter(id).waitFor({ timeout: 20_000 });
    t.match(await letter(ids[0]!).textContent(), /max_attempts_exceeded.*HTTP 500/, "dead-lettered after HTTP 500s");

    const bulk = page.getByRole("button", { name: /^Redeliver selected/ });
    t.ok(await bulk.isDisabled(), "nothing selected: the bulk button is disabled");
    const all = page.getByLabel("Select all dead letters");
    await all.check();
    for (const id of ids) t.ok(await page.getByLabel(`Select ${id}`).isChecked(), `select all: ${id}`);
    await all.uncheck();
    t.ok(await bulk.isDisabled(), "select all, again: nothing selected");
    await all.check();
    t.equal(await bulk.textContent(), "Redeliver selected (4)");

    // Another operator redelivers one of them meanwhile: the refreshed list drops it, and so does
    // the selection (sending it again would deliver it twice).
    receiver.answer = () => ({ status: 200 });
    const elsewhere = ids[3]!;
    const selected = ids.slice(0, 3);
    const one = await app.inject({
      method: "POST",
      url: `/v1/subscribers/${name}/dead-letters/${elsewhere}/redeliver`,
      headers: admin,
    });
    t.equal(one.json().outcome, "delivered");
    await letter(elsewhere).waitFor({ state: "detached", timeout: 10_000 });
    t.equal(await bulk.textContent(), "Redeliver selected (3)", "the resolved one left the selection");

    const before = receiver.requests.length;
    confirm = false;
    await bulk.click();
    t.equal(dialogs.at(-1), "Redeliver 3 dead letter(s) now?", "a confirmation was asked");
    for (const id of selected)
      t.ok(await page.getByLabel(`Select ${id}`).isChecked(), `declined: ${id} still selected`);

    confirm = true;
    await bulk.click();
    const results = page.getByRole("status").filter({ hasText: `${selected[0]}: delivered` });
    for (const id of selected) await results.getByText(`${id}: delivered (HTTP 200)`).waitFor();
    await page.getByText("No unresolved dead letters.").waitFor();
    const deadCount = page.locator("dl.stats").locator("xpath=dt[.='Dead-lettered']/following-sibling::dd[1]");
    await deadCount.filter({ hasText: /^0$/ }).waitFor();
    t.same(
      receiver.requests
        .slice(before)
        .map((r) => String(r.headers["webhook-id"]))
        .sort(),
      [...selected].sort(),
      "one request per selected dead letter, none from the declined confirmation",
    );
    const open = await app.inject({ url: `/v1/subscribers/${name}/dead-letters?unresolved=true`, headers: admin });
    t.same(open.json().dead_letters, [], "every dead letter is resolved");

    await page.getByLabel("Outcome").selectOption("delivered");
    await page.getByRole("button", { name: "Filter attempts" }).click();
    await page.waitForFunction((n) => {
      const rows = [...document.querySelectorAll("table[aria-label='Delivery attempts'] tbody tr")];
      return rows.length === n && rows.every((r) => r.classList.contains("outcome-delivered"));
    }, ids.length);
    const log = page.getByRole("table", { name: "Delivery attempts" });
    for (const id of ids) {
      const row = log.getByRole("row").filter({ hasText: id });
      t.equal(await row.count(), 1, `one delivered attempt of ${id}`);
      const cells = await row.getByRole("cell").allTextContents();
      t.same([cells[3], cells[4], cells[5]], ["3", "delivered", "200"], `${id}: attempt 3, delivered, HTTP 200`);
    }
    await screenshot(page, "console-bulk-redelivered.png");
  });

  await t.test("start a replay on the page and follow its progress to completed", async (t) => {
    const receiver = await startReceiver(t);
    const name = "replay-hooks";
    await createSubscriber(app, { name, url: receiver.url, event_types: ["replay.*"], timeout_ms: 6_000 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await publish(app, { type: "replay.tick", payload: { n: i } }));
    await receiver.waitFor(5);
    // The first replayed request is held long enough for the page's refresh to see the replay run.
    let held = false;
    receiver.answer = (req) => {
      if (req.headers["x-brain-replay"] === undefined || held) return { status: 200 };
      held = true;
      return { status: 200, delayMs: 4_000 };
    };

    await openSubscriber(name);
    await page.getByText("No replays.").waitFor();
    await page.getByLabel("From (stream id or RFC 3339 time)").fill(ids[1]!);
    await page.getByLabel("To (optional)").fill(ids[3]!);
    await page.getByRole("button", { name: "Start replay" }).click();
    const table = page.getByRole("table", { name: "Replays" });
    const row = table.getByRole("row").filter({ hasText: `${ids[1]} → ${ids[3]}` });
    await row.getByRole("cell", { name: "running", exact: true }).waitFor({ timeout: 10_000 });
    await screenshot(page, "console-replay-running.png");
    await row.getByRole("cell", { name: "completed", exact: true }).waitFor({ timeout: 20_000 });

    const progress = row.getByRole("progressbar");
    const id = /^Replay (\S+) progress$/.exec((await progress.getAttribute("aria-label")) ?? "")?.[1] ?? "";
    t.match(id, /^[0-9a-f-]{36}$/, "the progress bar names its replay");
    t.same(await progress.evaluate((el: HTMLProgressElement) => [el.value, el.max]), [3, 3], "the bar is full");
    t.match(await row.textContent(), /3 \/ 3.*3 \/ 0/, "3 of 3 sent; 3 delivered, 0 failed");
    t.equal(await row.getByRole("button", { name: /^Cancel replay/ }).count(), 0, "a finished replay has no cancel");

    const replayed = await receiver.waitFor(3, 5_000, (r) => r.headers["x-brain-replay"] === id);
    t.same(
      replayed.map((r) => String(r.headers["webhook-id"])).sort(),
      ids.slice(1, 4).sort(),
      "the receiver got the range, each request marked x-brain-replay",
    );
    t.equal(receiver.requests.length, 8, "and nothing else");
    await screenshot(page, "console-replay-completed.png");
  });

  t.same(problems, [], "no page error and no CSP violation");
  t.same(external, [], "no request leaves the gateway's origin");
});
