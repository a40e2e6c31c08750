#!/usr/bin/env node
// Builds the browser demos into examples/browser/dist/: each page's script bundled by esbuild
// (xent from this repository's src/, through tsconfig.json's paths), and the HTML and CSS copied.
// Run from the repository root: npm run demo:build (it builds the embedded wasm first).
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(here, "src/explainer.ts"), join(here, "src/surprisal.ts"), join(here, "src/model.ts")],
  outdir: out,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  tsconfig: join(here, "../../tsconfig.json"),
  logLevel: "warning",
});
for (const name of readdirSync(join(here, "pages"))) copyFileSync(join(here, "pages", name), join(out, name));
console.log(`demo:build: ${readdirSync(out).sort().join(", ")} in ${out}`);
