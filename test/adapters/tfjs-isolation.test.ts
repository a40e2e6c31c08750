/**
 * tfjs stays out of the core: importing `xent` loads no @tensorflow module, while the
 * `xent/tfjs` subpath does (checked in a fresh process through Node's CommonJS module cache,
 * where tfjs's CommonJS build lands).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { it } from "node:test";

function loadedTf(entry: string): string[] {
  const code = `import(${JSON.stringify(entry)}).then(async () => {
    const { createRequire } = await import("node:module");
    const cache = createRequire(process.cwd() + "/").cache;
    console.log(JSON.stringify(Object.keys(cache).filter((k) => k.includes("@tensorflow"))));
  });`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

it("import of the core entry loads no tfjs; the xent/tfjs adapter does", () => {
  assert.deepEqual(loadedTf("./src/index.ts"), []);
  assert.ok(loadedTf("./src/adapters/tfjs.ts").some((k) => k.includes("tfjs-core")));
});

it("package.json: ./tfjs is a subpath export with types first, tfjs-core an optional peer", () => {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
    exports: Record<string, Record<string, string>>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional: boolean }>;
    dependencies: Record<string, string>;
  };
  assert.deepEqual(Object.keys(pkg.exports["./tfjs"]!), ["types", "default"]);
  assert.equal(pkg.exports["./tfjs"]!.default, "./dist/adapters/tfjs.js");
  assert.ok("@tensorflow/tfjs-core" in pkg.peerDependencies);
  assert.equal(pkg.peerDependenciesMeta["@tensorflow/tfjs-core"]!.optional, true);
  assert.ok(!("@tensorflow/tfjs-core" in pkg.dependencies));
});
