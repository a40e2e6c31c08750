#!/usr/bin/env node
// Browser bundle sizes of the built package (run `npm run build` first): esbuild, minified, ESM,
// platform browser, gzip -9; tfjs is left external. Usage: node bench/bundle-size.mjs
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
for (const [name, contents] of [["everything (export * from \"xent\")", 'export * from "./dist/index.js";'], ["crossEntropy only", 'export { crossEntropy } from "./dist/index.js";'], ["createEngine only", 'export { createEngine } from "./dist/index.js";'], ["xent/tfjs crossEntropy (tfjs external)", 'export { crossEntropy } from "./dist/adapters/tfjs.js";']]) {
  const r = await build({ stdin: { contents, resolveDir: process.cwd(), loader: "js" }, bundle: true, minify: true, format: "esm", platform: "browser", write: false, logLevel: "error", external: ["@tensorflow/*"] });
  const b = r.outputFiles[0].contents;
  console.log(`${name}: ${(b.length/1024).toFixed(1)} kB minified, ${(gzipSync(b, { level: 9 }).length/1024).toFixed(1)} kB gzipped`);
}
