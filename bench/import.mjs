#!/usr/bin/env node
// Import time of the published package: build, pack, install the tarball into an empty project,
// then time `await import("xent")` in fresh Node processes (the first import, cold module cache,
// warm OS file cache after one discarded run). Prints the median and the minimum of the wall
// time and of the process's CPU time (user + system) spent in the import, in ms.
// Usage: node bench/import.mjs [runs] [other-tree ...]   (default 21 runs)
// With other trees (checkouts of the repository with node_modules, e.g. a git worktree of an
// earlier commit), each is built, packed and installed too, and the processes alternate between
// the packages run by run, so that every figure is measured under the same load.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const runs = Number(process.argv[2] ?? 21);
const trees = [root, ...process.argv.slice(3).map((t) => resolve(t))];
const dir = mkdtempSync(join(tmpdir(), "xent-import-"));
const TIMER = `const c0 = process.cpuUsage();
const t0 = performance.now();
const m = await import("xent");
const t1 = performance.now();
const c1 = process.cpuUsage(c0);
if (typeof m.crossEntropy !== "function") throw new Error("no crossEntropy");
console.log(JSON.stringify({ wall: t1 - t0, cpu: (c1.user + c1.system) / 1000 }));`;

/** Build and pack a tree, install the tarball into an empty project; returns the project's folder. */
function install(tree, k) {
  execFileSync("npm", ["run", "build"], { cwd: tree, stdio: "pipe" });
  const dest = join(dir, `pack${k}`);
  mkdirSync(dest);
  const [{ filename }] = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", dest], { cwd: tree, encoding: "utf8" }));
  const app = join(dir, `app${k}`);
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", type: "module", private: true }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dest, filename)], { cwd: app, stdio: "pipe" });
  writeFileSync(join(app, "time.mjs"), TIMER);
  return app;
}

try {
  const apps = trees.map(install);
  const wall = apps.map(() => []);
  const cpu = apps.map(() => []);
  for (let i = 0; i <= runs; i++) {
    apps.forEach((app, k) => {
      const t = JSON.parse(execFileSync(process.execPath, ["time.mjs"], { cwd: app, encoding: "utf8" }));
      if (i === 0) return; // the first run warms the OS file cache
      wall[k].push(t.wall);
      cpu[k].push(t.cpu);
    });
  }
  const stats = (xs) => {
    xs.sort((a, b) => a - b);
    return `median ${xs[Math.floor(xs.length / 2)].toFixed(1)} ms, min ${xs[0].toFixed(1)} ms`;
  };
  trees.forEach((tree, k) => {
    console.log(`import("xent") from the installed tarball of ${tree}, Node ${process.version}, ${runs} fresh processes:`);
    console.log(`  wall time ${stats(wall[k])}`);
    console.log(`  CPU time (user + system) ${stats(cpu[k])}`);
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
