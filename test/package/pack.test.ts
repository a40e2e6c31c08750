/**
 * Tests the package we ship, not the sources: build, `npm pack`, install the tarball into a
 * temporary project, import `xent` by name from ESM, and run its `xent` bin.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

test("the packed tarball installs and imports as `xent` from ESM, with types and a working bin", () => {
  const dir = mkdtempSync(join(tmpdir(), "xent-pack-"));
  try {
    execFileSync("npm", ["run", "build"], { cwd: root, stdio: "pipe" });
    execFileSync("npm", ["pack", "--pack-destination", dir], { cwd: root, stdio: "pipe" });
    const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    assert.ok(tgz, "npm pack wrote no tarball");
    const app = join(dir, "app");
    execFileSync("mkdir", ["-p", app]);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", type: "module", private: true }));
    const install = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dir, tgz)], { cwd: app, encoding: "utf8" });
    assert.equal(install.status, 0, install.stderr);
    assert.doesNotMatch(install.stderr, /peer|EBADENGINE/i, "installing xent warns about nothing");
    const files = readdirSync(join(app, "node_modules", "xent", "dist"));
    assert.ok(files.includes("index.js") && files.includes("index.d.ts"), `dist has ${files.join(", ")}`);
    assert.ok(!files.includes("examples"), "the trainer is its own package, not shipped in xent's dist");
    writeFileSync(
      join(app, "main.mjs"),
      `import { crossEntropy, perplexity } from "xent";
const out = crossEntropy([Math.log(0.7), Math.log(0.2), Math.log(0.1)], [0], { classes: 3, grad: true });
console.log(JSON.stringify({ loss: out.loss, grad: Array.from(out.grad), ppl: perplexity([[0, 0]], [1]) }));`,
    );
    const got = JSON.parse(execFileSync("node", ["main.mjs"], { cwd: app, encoding: "utf8" })) as { loss: number; grad: number[]; ppl: number };
    assert.equal(got.loss.toFixed(6), "0.356675");
    assert.equal(got.grad.length, 3);
    assert.ok(Math.abs(got.ppl - 2) < 1e-12);
    const bin = execFileSync(join(app, "node_modules", ".bin", "xent"), ["loss", "--probs", "0.7,0.2,0.1", "--target", "0"], { encoding: "utf8" });
    assert.equal(bin, "0.356675 nats\n");
    // the library and `xent loss` only: commander is its one dependency, tfjs-core an optional
    // peer for xent/tfjs, and nothing of the trainer's comes along
    const manifest = JSON.parse(readFileSync(join(app, "node_modules", "xent", "package.json"), "utf8")) as { dependencies?: object; peerDependencies?: object; workspaces?: unknown };
    assert.deepEqual(Object.keys(manifest.dependencies ?? {}), ["commander"]);
    assert.deepEqual(Object.keys(manifest.peerDependencies ?? {}), ["@tensorflow/tfjs-core"]);
    assert.deepEqual(readdirSync(join(app, "node_modules")).filter((d) => !d.startsWith(".")).sort(), ["commander", "xent"]);
    const train = spawnSync(join(app, "node_modules", ".bin", "xent"), ["train", "--steps", "1"], { cwd: app, encoding: "utf8" });
    assert.equal(train.status, 2, train.stderr);
    assert.equal(train.stderr, "xent: unknown command 'train'\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
