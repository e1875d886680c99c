import t, { type Test } from "tap";
import { CONSOLE_CSP } from "../src/plugins/console.js";
import { launch, noBrowser, screenshot, unnamedControls, unreachableByTab } from "./helpers/browser.js";
import { eventually, FAST_ENV, publish } from "./helpers/delivery.js";
import { ADMIN_TOKEN } from "./helpers/env.js";
import { auth } from "./helpers/http.js";
import { buildApp } from "./helpers/app.js";
import { startReceiver } from "./helpers/receiver.js";

const XSS = {
  script: "<script>window.__pwned = 'script'</script>",
  img: "<img src=x onerror=window.__pwned='img'>",
};

t.test("the operator console in a real browser, against a real gateway", { skip: noBrowser }, async (t) => {
  const receiver = await startReceiver(t);
  const { app } = await buildApp(t, { ...FAST_ENV, BRAIN_ROLE: "all", BRAIN_TRIM_INTERVAL_MS: "0" });
  const base = await app.listen({ port: 0, host: "127.0.0.1" });
  const browser = await launch(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const external: string[] = [];
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) external.push(r.url());
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // A CSP violation shows as a console error: the page must not provoke any.
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy/i.test(m.text())) problems.push(m.text());
  });
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.accept();
  });
  const pwned = () => page.evaluate(() => (window as { __pwned?: string }).__pwned ?? null);
  const checkPage = async (t: Test, name: string) => {
    t.same(await unnamedControls(page), [], `${name}: every control has an accessible name`);
    const tab = await unreachableByTab(page);
    t.same(tab.missed, [], `${name}: Tab reaches every control`);
    t.same(tab.noOutline, [], `${name}: the focused control shows a focus outline`);
    t.ok(await screenshot(page, `console-${name}.png`), `screenshot of ${name}`);
  };

  const first = await page.goto(`${base}/console`);
  t.equal(first?.headers()["content-security-policy"], CONSOLE_CSP, "the page is served under the strict CSP");

  await t.test("sign in: a wrong token says so; the admin token is kept for the tab, never in the URL", async (t) => {
    await page.getByLabel("Admin token").fill("not-the-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "Wrong token" }).waitFor();
    await checkPage(t, "sign-in");
    // Keyboard only: focus the field, type, Enter submits.
    await page.getByLabel("Admin token").focus();
    await page.keyboard.press("Control+A");
    await page.keyboard.type(ADMIN_TOKEN);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Subscribers" }).waitFor();
    t.notMatch(page.url(), ADMIN_TOKEN, "the token is not in the URL");
    t.equal(await page.evaluate(() => Object.values(sessionStorage).length), 1, "kept in sessionStorage");
    t.equal(await page.evaluate(() => Object.values(localStorage).length), 0, "and not in localStorage");
  });

  const name = "console-hooks";
  await t.test("create a subscriber on the page; its secret is shown once", async (t) => {
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByLabel("URL").fill(receiver.url);
    await page.getByRole("button", { name: "Create subscriber" }).click();
    const secret = await page.getByLabel("New signing secret").textContent();
    t.match(secret, /^whsec_/, "the new secret is shown");
    await page.getByRole("link", { name }).first().waitFor();
    await checkPage(t, "subscribers");
  });

  let delivered = "";
  await t.test("publish an event and see its delivery appear on the subscriber page", async (t) => {
    await page.getByRole("row").filter({ hasText: name }).getByRole("link", { name }).click();
    await page.getByRole("heading", { name: `Subscriber ${name}` }).waitFor();
    delivered = await publish(app, { payload: { order: 1 } });
    const row = page.getByRole("table", { name: "Delivery attempts" }).getByRole("row").filter({ hasText: delivered });
    await row.filter({ hasText: "delivered" }).waitFor({ timeout: 20_000 });
    t.equal(receiver.requests.length, 1, "the receiver got it");
    // The page's configuration form: fewer attempts, so the next failure dead-letters quickly.
    await page.getByLabel("Max attempts").fill("2");
    await page.getByRole("button", { name: "Save configuration" }).click();
    await page.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    const sub = await app.inject({ url: `/v1/subscribers/${name}`, headers: auth(ADMIN_TOKEN) });
    t.equal(sub.json().max_attempts, 2, "the PATCH reached the gateway");
  });

  let dead = "";
  await t.test(
    "a failing receiver dead-letters the event; redeliver it from the page and it is delivered",
    async (t) => {
      receiver.answer = () => ({ status: 500 });
      dead = await publish(app, { payload: XSS });
      const deadRow = page.getByRole("table", { name: "Dead letters" }).getByRole("row").filter({ hasText: dead });
      await deadRow.waitFor({ timeout: 20_000 });
      // The envelope with markup in its payload: shown as characters, nothing runs.
      await deadRow.getByText("Envelope").click();
      const shown = await deadRow.getByLabel(`Envelope of ${dead}`).textContent();
      t.match(shown, XSS.script, "<script> is shown as text");
      t.match(shown, XSS.img, "<img onerror> is shown as text");
      t.equal(await page.locator("main img").count(), 0, "no img element was created");
      t.equal(await pwned(), null, "no script ran");

      receiver.answer = () => ({ status: 200 });
      await deadRow.getByRole("button", { name: `Redeliver ${dead}` }).click();
      await page
        .getByRole("status")
        .filter({ hasText: `${dead}: delivered` })
        .waitFor();
      await eventually(() => receiver.requests.length >= 4, 5_000, "the redelivery");
      const letters = await app.inject({
        url: `/v1/subscribers/${name}/dead-letters?unresolved=true`,
        headers: auth(ADMIN_TOKEN),
      });
      t.same(letters.json().dead_letters, [], "the dead letter is resolved");
      await page.getByText("No unresolved dead letters.").waitFor();

      // The attempt log filtered by outcome, each attempt with its event type.
      await page.getByLabel("Outcome").selectOption("dead_lettered");
      await page.getByRole("button", { name: "Filter attempts" }).click();
      const log = page.getByRole("table", { name: "Delivery attempts" });
      await page.waitForFunction(() => {
        const rows = [...document.querySelectorAll("table[aria-label='Delivery attempts'] tbody tr")];
        return rows.length > 0 && rows.every((r) => r.classList.contains("outcome-dead_lettered"));
      });
      const rows = log.getByRole("row").filter({ hasText: dead });
      await rows.first().waitFor();
      t.equal(await log.getByRole("row").filter({ hasText: delivered }).count(), 0, "only dead-lettered attempts");
      t.match(await rows.first().textContent(), "mission.created", "each attempt shows its event type");
      // The per-minute chart (reloaded: it refreshes every 15 s) counts the dead-lettered attempt.
      await page.reload();
      const chart = page.getByRole("img", { name: /^Attempts per minute/ });
      await chart.waitFor();
      t.match(await chart.getAttribute("aria-label"), /[1-9]\d* delivered, [1-9]\d* retried, 1 dead-lettered/);
      await checkPage(t, "subscriber");
    },
  );

  await t.test("destructive actions ask first: disabling the subscriber", async (t) => {
    await page.getByRole("button", { name: "Disable" }).click();
    await page.getByRole("button", { name: "Enable" }).waitFor();
    t.match(dialogs.at(-1), `Disable ${name}?`, "a confirmation was asked");
    await page.getByRole("button", { name: "Enable" }).click();
    await page.getByRole("button", { name: "Disable" }).waitFor();
  });

  await t.test("events: newest first, markup in payloads as text, an entry with its deliveries", async (t) => {
    await page.getByRole("link", { name: "Events", exact: true }).click();
    await page.getByRole("heading", { name: "Newest first" }).waitFor();
    const list = page.getByRole("list", { name: "Events, newest first" });
    await list.getByText(dead, { exact: true }).waitFor();
    const ids = await list.locator("li summary .mono:first-child").allTextContents();
    t.same(ids.slice(0, 2), [dead, delivered], "newest first");
    await list.locator("li").first().locator("summary").click();
    t.match(await list.getByLabel(`Envelope of ${dead}`).textContent(), XSS.script, "shown as text");
    t.equal(await pwned(), null, "no script ran");

    await page.getByLabel("Event id or stream id").fill(delivered);
    await page.getByRole("button", { name: "Search events" }).click();
    await page.getByRole("heading", { name: `Event ${delivered}` }).waitFor();
    await page
      .getByRole("table", { name: "Deliveries of this event" })
      .getByRole("row", { name: new RegExp(name) })
      .waitFor();
    await checkPage(t, "event");
  });

  await t.test("the live tail appends events as they are ingested (fetch streaming, token in a header)", async (t) => {
    await page.getByRole("link", { name: "Events", exact: true }).click();
    await page.getByRole("button", { name: "Start live tail" }).click();
    await page.getByRole("status").filter({ hasText: "live" }).waitFor();
    const live = await publish(app, { type: "mission.tail", payload: XSS });
    const tail = page.getByRole("list", { name: "Live events, newest first" });
    await tail.getByText(live, { exact: true }).waitFor({ timeout: 10_000 });
    t.equal(await pwned(), null, "no script ran");
    await checkPage(t, "events");
    await page.getByRole("button", { name: "Stop live tail" }).click();
  });

  await t.test("event types: the registry with schemas and recent volume", async (t) => {
    const put = await app.inject({
      method: "PUT",
      url: "/v1/event-types/mission.created",
      headers: auth(ADMIN_TOKEN),
      payload: { description: "A mission was created", schema: { type: "object" } },
    });
    t.equal(put.statusCode < 300, true, `registered (${put.statusCode})`);
    await page.getByRole("link", { name: "Event types" }).click();
    await page.getByRole("cell", { name: "mission.created", exact: true }).waitFor();
    await page.getByText("A mission was created").waitFor();
    await checkPage(t, "event-types");
  });

  await t.test("sign out forgets the token", async (t) => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Admin token").waitFor();
    t.equal(await page.evaluate(() => Object.values(sessionStorage).length), 0);
  });

  t.same(problems, [], "no page error and no CSP violation");
  t.same(external, [], "no request leaves the gateway's origin");
});
