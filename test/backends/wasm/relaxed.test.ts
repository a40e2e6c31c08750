// The relaxed-SIMD (fused multiply-add) build: Node 20 validates it only behind a V8 flag, so the
// exp sweep and the backend tests run again in a child process with that flag (where this runtime
// already validates relaxed SIMD, the other test files run the relaxed build themselves).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { detectFeatures } from "../../../src/backends/wasm/loader.js";

test("relaxed-SIMD build: exp sweep and wasm backend tests pass with FMA", () => {
  if (detectFeatures().relaxedSimd) {
    // Every other wasm test in this run already uses the relaxed build.
    assert.equal(detectFeatures().simd, true);
    return;
  }
  const files = ["test/backends/wasm/exp.test.ts", "test/backends/wasm/crossEntropy.test.ts"];
  const env: Record<string, string | undefined> = { ...process.env, XENT_EXPECT_RELAXED: "1" };
  delete env.NODE_TEST_CONTEXT; // a top-level test run of its own, reporting TAP on stdout
  const r = spawnSync(process.execPath, ["--experimental-wasm-relaxed-simd", "--import", "tsx", "--test", "--test-reporter=tap", ...files], {
    encoding: "utf8",
    env,
  });
  assert.equal(r.status, 0, `child tests failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  assert.match(r.stdout, /# pass [1-9]/);
  assert.match(r.stdout, /# fail 0/);
});
