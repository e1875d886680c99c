/**
 * Debian's chromium driven by playwright-core, launched for a closed network (the docs and console tests),
 * and the checks every console page gets: accessible names, keyboard reach, visible focus.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { ROOT, type Test } from "./env.js";

export const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
/** Gitignored; CI keeps it as the test output. */
export const OUTPUT = join(ROOT, "test-output");

/** The tap `skip` option: a reason when there is no browser, else false. */
export const noBrowser = existsSync(CHROMIUM)
  ? false
  : `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) to run this test`;

export async function launch(t: Test): Promise<Browser> {
  // Flags for a closed network, as root, in a container (see the machine notes).
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(OUTPUT, { recursive: true });
  const path = join(OUTPUT, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Every interactive element without an accessible name (a simplified accessible-name computation). */
export function unnamedControls(page: Page): Promise<string[]> {
  return page.$$eval("a[href], button, input, select, textarea, summary, [tabindex]", (els) =>
    els
      .filter((el) => {
        const byRef = (el.getAttribute("aria-labelledby") ?? "")
          .split(/\s+/)
          .map((id) => document.getElementById(id)?.textContent ?? "")
          .join("");
        const label = el.id === "" ? "" : (document.querySelector(`label[for="${el.id}"]`)?.textContent ?? "");
        const own = ["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName) ? "" : (el.textContent ?? "");
        const name = [el.getAttribute("aria-label"), byRef, label, own, el.getAttribute("title")].join("");
        return name.trim() === "";
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

/**
 * Tabs through the page from its top and returns the visible controls Tab never reached; checks
 * that each focused element shows a focus outline.
 */
export async function unreachableByTab(page: Page): Promise<{ missed: string[]; noOutline: string[] }> {
  const controls = await page.$$eval("a[href], button:not([disabled]), input, select, textarea, summary", (els) =>
    els
      // Shown controls only: not hidden, and not inside a closed <details>.
      .filter((el) => el.checkVisibility({ contentVisibilityAuto: true, visibilityProperty: true }))
      .map((el, i) => {
        el.setAttribute("data-tab-probe", String(i));
        return { probe: String(i), html: el.outerHTML.slice(0, 120) };
      }),
  );
  await page.evaluate(() => {
    (document.activeElement as HTMLElement | null)?.blur();
    window.scrollTo(0, 0);
  });
  const reached = new Set<string>();
  const noOutline: string[] = [];
  for (let i = 0; i < controls.length + 10; i++) {
    await page.keyboard.press("Tab");
    const seen = await page.evaluate(() => {
      const el = document.activeElement;
      if (el === null || el === document.body) return null;
      const style = getComputedStyle(el);
      return {
        probe: el.getAttribute("data-tab-probe"),
        outlined: style.outlineStyle !== "none" && style.outlineWidth !== "0px",
        html: el.outerHTML.slice(0, 100),
      };
    });
    if (seen === null) continue;
    if (seen.probe !== null) reached.add(seen.probe);
    if (!seen.outlined) noOutline.push(seen.html);
  }
  return { missed: controls.filter((c) => !reached.has(c.probe)).map((c) => c.html), noOutline };
}
