// The relaxed-SIMD (fused multiply-add) build: Node 20 validates it only behind a V8 flag, so the
// exp sweep and the wasm rows of the conformance matrix run again in a child process with that
// flag. Where the runtime validates relaxed SIMD already, the child runs without it: V8 removed
// the flag once the feature shipped (Node 22.23 rejects it as a bad option). The child must report
// passing tests, none failing, and the exp test asserts that the relaxed build is the one in use.
// A second child runs the exp test with V8's FMA3 turned off, where the loader must pick the plain
// build (the relaxed build's exp needs fused multiply-add for its bound).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { detectFeatures } from "../../../src/backends/wasm/loader.js";

/** Run test files in a child Node with V8 flags and env vars; asserts it exits 0 with none failing, returns its TAP. */
function childTests(flags: string[], vars: Record<string, string>, files: string[]): string {
  const env: Record<string, string | undefined> = { ...process.env, ...vars };
  delete env.NODE_TEST_CONTEXT; // a top-level test run of its own, reporting TAP on stdout
  const r = spawnSync(process.execPath, [...flags, "--import", "tsx", "--test", "--test-reporter=tap", ...files], { encoding: "utf8", env });
  assert.equal(r.status, 0, `child tests failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  assert.match(r.stdout, /# fail 0/);
  return r.stdout;
}

test("relaxed-SIMD build: exp sweep and the wasm conformance rows pass with FMA", () => {
  const files = ["test/backends/wasm/exp.test.ts", "test/conformance/edges.test.ts", "test/conformance/linear.test.ts"];
  const flags = detectFeatures().relaxedSimd ? [] : ["--experimental-wasm-relaxed-simd"];
  const out = childTests(flags, { XENT_EXPECT_RELAXED: "1", XENT_CONFORMANCE_BACKEND: "wasm" }, files);
  const pass = Number(/# pass (\d+)/.exec(out)?.[1] ?? 0);
  assert.ok(pass >= 8, `the child ran ${pass} passing tests`);
});

test("without FMA3 the loader picks the plain build, and its exp keeps the 2 ulp bound", () => {
  // V8's --no-enable-fma3 lowers relaxed_madd to a multiply and an add, as on x86 CPUs without
  // FMA3: the degree-4 exp of the relaxed build would reach 2.26 ulp there, so the loader's probe
  // must see the unfused rounding and take the plain SIMD build (degree 5).
  const flags = detectFeatures().relaxedSimd ? ["--no-enable-fma3"] : ["--experimental-wasm-relaxed-simd", "--no-enable-fma3"];
  const out = childTests(flags, { XENT_EXPECT_RELAXED: "0" }, ["test/backends/wasm/exp.test.ts"]);
  assert.match(out, /# pass [1-9]/);
});
