#!/usr/bin/env node
// Import time of the published package: build, pack, install the tarball into an empty project,
// then time `await import("xent")` in fresh Node processes (the first import, cold module cache,
// warm OS file cache after one discarded run). Prints the median and the minimum of the wall
// time and of the process's CPU time (user + system) spent in the import, in ms.
// Usage: node bench/import.mjs [runs]   (default 21)
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const runs = Number(process.argv[2] ?? 21);
const dir = mkdtempSync(join(tmpdir(), "xent-import-"));
try {
  execFileSync("npm", ["run", "build"], { cwd: root, stdio: "pipe" });
  const [{ filename }] = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: root, encoding: "utf8" }));
  const app = join(dir, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", type: "module", private: true }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dir, filename)], { cwd: app, stdio: "pipe" });
  writeFileSync(
    join(app, "time.mjs"),
    `const c0 = process.cpuUsage();
const t0 = performance.now();
const m = await import("xent");
const t1 = performance.now();
const c1 = process.cpuUsage(c0);
if (typeof m.crossEntropy !== "function") throw new Error("no crossEntropy");
console.log(JSON.stringify({ wall: t1 - t0, cpu: (c1.user + c1.system) / 1000 }));`,
  );
  const wall = [];
  const cpu = [];
  for (let i = 0; i <= runs; i++) {
    const t = JSON.parse(execFileSync(process.execPath, ["time.mjs"], { cwd: app, encoding: "utf8" }));
    if (i === 0) continue; // the first run warms the OS file cache
    wall.push(t.wall);
    cpu.push(t.cpu);
  }
  const stats = (xs) => {
    xs.sort((a, b) => a - b);
    return `median ${xs[Math.floor(xs.length / 2)].toFixed(1)} ms, min ${xs[0].toFixed(1)} ms`;
  };
  console.log(`import("xent") from the installed tarball, Node ${process.version}, ${runs} fresh processes:`);
  console.log(`  wall time ${stats(wall)}`);
  console.log(`  CPU time (user + system) ${stats(cpu)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
