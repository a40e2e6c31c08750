#!/usr/bin/env node
// Runs every test/**/*.test.ts, and the trainer's examples/tiny-gpt/test/**/*.test.ts, with node's
// test runner (TypeScript through tsx).
// Usage: node scripts/run-tests.mjs [substring-filter...]
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

// The embedded wasm (a gitignored .gen.ts) is built first when missing or stale.
const build = spawnSync(process.execPath, ["scripts/build-wasm.mjs"], { stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);

const filters = process.argv.slice(2);
const files = ["test", "examples/tiny-gpt/test"]
  .flatMap(walk)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
