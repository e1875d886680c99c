import t from "tap";
import { existsSync } from "node:fs";
import { buildApp } from "./helpers/app.js";
import { launch, noBrowser, screenshot } from "./helpers/browser.js";

t.test(
  "the docs page renders the events and subscribers operations with their schemas in a real browser",
  {
    skip: noBrowser,
  },
  async (t) => {
    const { app } = await buildApp(t, { BRAIN_ROLE: "api", BRAIN_TRIM_INTERVAL_MS: "0" });
    const base = await app.listen({ port: 0, host: "127.0.0.1" });
    const browser = await launch(t);
    const page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
    const external: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(base)) external.push(r.url());
    });

    await page.goto(`${base}/docs`);
    await page.waitForSelector("#operations-tag-events", { timeout: 20_000 });
    t.ok(await page.isVisible("#operations-tag-subscribers"), "subscribers tag");
    t.ok(await page.isVisible("#operations-tag-operations"), "operations tag");
    const paths = await page.$$eval(".opblock-summary-path", (els) =>
      els.map((e) => e.textContent?.replace(/\u200b/g, "").trim()),
    );
    for (const p of ["/v1/events", "/v1/events/batch", "/v1/subscribers", "/v1/subscribers/{name}", "/metrics"]) {
      t.ok(paths.includes(p), `operation ${p} is listed`);
    }

    // Expanding an operation shows its request body schema with the Charter fields.
    await page.click("#operations-events-publishEvent .opblock-summary");
    await page.waitForSelector("#operations-events-publishEvent .opblock-body", { timeout: 10_000 });
    const op = page.locator("#operations-events-publishEvent");
    await op.getByRole("tab", { name: "Schema" }).first().click();
    // Nested objects (meta) start collapsed: open the request schema's collapsed nodes.
    const collapsed = op.locator(
      ".opblock-section-request-body .json-schema-2020-12-accordion" +
        ":has(.json-schema-2020-12-accordion__icon--collapsed)",
    );
    for (let i = 0; i < 10 && (await collapsed.count()) > 0; i++) await collapsed.first().click();
    const body = await page.textContent("#operations-events-publishEvent .opblock-body");
    for (const field of ["schema_version", "producer", "source_module", "payload"])
      t.match(body, field, `the request schema shows ${field}`);
    t.match(body, "202", "responses are listed");

    // The schemas section lists the components.
    const models = await page.textContent("section.models");
    for (const name of ["EventEnvelope", "ErrorBody"]) t.match(models, name, `schema ${name}`);

    const shot = await screenshot(page, "docs.png");
    t.ok(existsSync(shot), `screenshot saved to ${shot}`);
    t.same(external, [], "every asset is served by the gateway (no CDN)");
  },
);
