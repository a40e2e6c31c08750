#!/usr/bin/env node
// Browser bundle sizes of the built package (run `npm run build` first): esbuild, minified, ESM,
// platform browser, code splitting on (as Vite, Rollup and webpack split dynamic imports), gzip -9;
// tfjs is left external. For each entry it prints what a page loads first (the entry chunk and the
// chunks it imports statically) and what it loads only when asked (the chunks behind dynamic
// imports: the embedded wasm kernels and the engine behind init()/createEngine(), the WebGPU
// executor behind createEngine({ backend: "webgpu" })).
// Usage: node bench/bundle-size.mjs
import { build } from "esbuild";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";

const dist = resolve("dist");
const ENTRIES = [
  ["everything (export * from \"xent\")", `export * from ${JSON.stringify(join(dist, "index.js"))};`],
  ["crossEntropy only", `export { crossEntropy } from ${JSON.stringify(join(dist, "index.js"))};`],
  ["createEngine only", `export { createEngine } from ${JSON.stringify(join(dist, "index.js"))};`],
  ["xent/tfjs crossEntropy (tfjs external)", `export { crossEntropy } from ${JSON.stringify(join(dist, "adapters/tfjs.js"))};`],
];
const dir = mkdtempSync(join(tmpdir(), "xent-bundle-"));
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
try {
  for (const [k, [name, contents]] of ENTRIES.entries()) {
    const entry = join(dir, `entry${k}.js`);
    writeFileSync(entry, contents);
    const r = await build({
      entryPoints: [entry], bundle: true, splitting: true, minify: true, format: "esm", platform: "browser",
      outdir: join(dir, `out${k}`), write: false, metafile: true, logLevel: "error", external: ["@tensorflow/*"],
    });
    const bytes = new Map(r.outputFiles.map((f) => [f.path, f.contents]));
    const outputs = r.metafile.outputs;
    const abs = (p) => resolve(p);
    const entryOut = Object.keys(outputs).find((p) => outputs[p].entryPoint !== undefined);
    // What loads first: the entry and its static imports, transitively; the rest is loaded lazily.
    const first = new Set();
    const visit = (p) => {
      if (first.has(p)) return;
      first.add(p);
      for (const i of outputs[p].imports) if (i.kind === "import-statement" && !i.external) visit(i.path);
    };
    visit(entryOut);
    const size = (paths, f) => paths.reduce((s, p) => s + f(bytes.get(abs(p))), 0);
    const lazy = Object.keys(outputs).filter((p) => !first.has(p) && p.endsWith(".js"));
    const min = (b) => b.length;
    const gz = (b) => gzipSync(b, { level: 9 }).length;
    console.log(`${name}: first load ${kb(size([...first], min))} minified, ${kb(size([...first], gz))} gzipped; loaded when used ${kb(size(lazy, min))} minified, ${kb(size(lazy, gz))} gzipped`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
