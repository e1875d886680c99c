/**
 * The operator console's build (src/console → dist/console), served by src/plugins/console.ts under
 * /console. The gateway's CSP allows scripts and styles from its own origin only, so nothing may be
 * inlined: no module-preload polyfill (Vite injects it as an inline script) and no inlined assets.
 */
import { defineConfig } from "vite";

export default defineConfig({
  root: "src/console",
  base: "/console/",
  publicDir: false,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../../dist/console",
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2022",
  },
});
