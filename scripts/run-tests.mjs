#!/usr/bin/env node
// Runs every test/**/*.test.ts, and the trainer's examples/tiny-gpt/test/**/*.test.ts, with node's
// test runner (TypeScript through tsx).
// Usage: node scripts/run-tests.mjs [--exclude=substring ...] [substring-filter...]
// (--exclude leaves out the files whose path contains the substring; .ci/run uses it to run the
// webgpu tests on one Node version only.)
//
// Browser tests (files that import playwright-core or scripts/screenshot.js) need a Chromium:
// $CHROMIUM_PATH, or the first of the usual install paths. Where none is found they do not run,
// and one line at the end says which and how to enable them; under CI (CI=true) a missing
// Chromium fails the run instead.
import { spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync, readdirSync, statSync } from "node:fs";
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

const CHROMIUM_CANDIDATES = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
  "/usr/bin/google-chrome-stable",
  "/snap/bin/chromium",
  "/Applications/Chromium.app/Contents/MacOS/Chromium",
  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
];

function executable(p) {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The Chromium to drive: $CHROMIUM_PATH when set (it must exist), else the first usual path. */
function findChromium() {
  const env = process.env.CHROMIUM_PATH;
  if (env !== undefined && env !== "") return executable(env) ? env : null;
  return CHROMIUM_CANDIDATES.find(executable) ?? null;
}

const usesBrowser = (file) => /["'](?:playwright-core|[./]*\/scripts\/screenshot\.js)["']/.test(readFileSync(file, "utf8"));
const inCI = process.env.CI !== undefined && !["", "0", "false"].includes(process.env.CI.toLowerCase());

// The embedded wasm (a gitignored .gen.ts) is built first when missing or stale.
const build = spawnSync(process.execPath, ["scripts/build-wasm.mjs"], { stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);

const args = process.argv.slice(2);
const excludes = args.filter((a) => a.startsWith("--exclude=")).map((a) => a.slice("--exclude=".length));
const filters = args.filter((a) => !a.startsWith("--exclude="));
let files = ["test", "examples/tiny-gpt/test"]
  .flatMap(walk)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .filter((f) => !excludes.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}

const browserTests = files.filter(usesBrowser);
const chromium = browserTests.length > 0 ? findChromium() : null;
let notRun = [];
let where = "";
if (browserTests.length > 0 && chromium === null) {
  where = process.env.CHROMIUM_PATH ? `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} is not an executable` : "no Chromium found";
  if (inCI) {
    console.error(`run-tests: ${where}, and CI=${process.env.CI} requires the browser tests (${browserTests.join(", ")}); install Chromium (apt-get install chromium) or set CHROMIUM_PATH`);
    process.exit(1);
  }
  notRun = browserTests;
  files = files.filter((f) => !notRun.includes(f));
}

const env = chromium === null ? process.env : { ...process.env, CHROMIUM_PATH: chromium };
let status = 0;
if (files.length > 0) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...files], { stdio: "inherit", env });
  status = r.status ?? 1;
}
if (notRun.length > 0) {
  console.log(
    `run-tests: browser tests not run (${where}): ${notRun.join(", ")}; to run them, install Chromium (Debian: apt-get install chromium) or set CHROMIUM_PATH to a Chromium or Chrome binary`,
  );
}
process.exit(status);
