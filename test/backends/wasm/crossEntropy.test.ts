// The synchronous wasm backend (after init()) against the float64 reference kernel, on a grid of
// shapes and options, forward and backward, plus the edge cases of design.md §2.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { crossEntropy, init, listBackends } from "../../../src/index.js";
import { assertMatches, gridCases } from "./cases.js";

before(async () => {
  assert.equal(await init(), true);
});

test("init registers the wasm backend first for auto", () => {
  assert.equal(listBackends()[0], "wasm");
});

test("wasm matches the reference on the grid (forward, forward+backward, inplace)", () => {
  for (const c of gridCases()) {
    const want = crossEntropy(c.logits, c.target, { ...c.options, backend: "reference", grad: true });
    const before = c.logits.slice();
    const fwd = crossEntropy(c.logits, c.target, { ...c.options, backend: "wasm" });
    assertMatches(fwd, { loss: want.loss, lse: want.lse }, `${c.name} forward`);
    const got = crossEntropy(c.logits, c.target, { ...c.options, backend: "wasm", grad: true });
    assertMatches(got, want, `${c.name} grad`);
    assert.deepEqual(c.logits, before, `${c.name}: logits unchanged`);
    const own = c.logits.slice();
    const inpl = crossEntropy(own, c.target, { ...c.options, backend: "wasm", grad: true, inplace: true });
    assert.equal(inpl.grad, own, `${c.name}: inplace returns the logits buffer`);
    assertMatches(inpl, want, `${c.name} inplace`);
  }
});

test("wasm streams many rows through its block buffer (rows beyond one block)", () => {
  const n = 600;
  const v = 8000; // 4.8M elements > one 4M-element block
  const x = new Float32Array(n * v);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 5;
  const t = Array.from({ length: n }, (_, i) => (i * 7919) % v);
  const want = crossEntropy(x, t, { classes: v, grad: true, backend: "js" });
  const got = crossEntropy(x, t, { classes: v, grad: true, backend: "wasm" });
  assertMatches(got, want, "600x8000");
});

test("wasm edge cases: -Infinity logits and targets, ignored rows, V = 1, all ignored", () => {
  const x = new Float32Array([-Infinity, 1, 2, -Infinity, 0.5, -Infinity, 3, 1]);
  for (const t of [[0, 2], [1, 0], [-100, 3]]) {
    const want = crossEntropy(x, t, { classes: 4, grad: true, backend: "reference" });
    const got = crossEntropy(x, t, { classes: 4, grad: true, backend: "wasm" });
    assertMatches(got, want, `masked ${t}`);
    for (const g of got.grad!) assert.ok(Number.isFinite(g));
  }
  const inf = crossEntropy(x, [0, 2], { classes: 4, grad: true, backend: "wasm" });
  assert.equal(inf.loss, Infinity);
  const smooth = crossEntropy(x, [1, 2], { classes: 4, labelSmoothing: 0.1, backend: "wasm" });
  assert.equal(smooth.loss, Infinity);
  const v1 = crossEntropy(new Float32Array([3, -2, 7]), [0, 0, 0], { classes: 1, grad: true, backend: "wasm" });
  assert.equal(v1.loss, 0);
  assert.deepEqual(Array.from(v1.grad!), [0, 0, 0]);
  const none = crossEntropy(x, [-100, -100], { classes: 4, grad: true, backend: "wasm" });
  assert.ok(Number.isNaN(none.loss));
  assert.deepEqual(Array.from(none.grad!), new Array(8).fill(0));
  assert.ok(Number.isFinite(none.lse[0]!));
});

test("wasm falls back to the js kernel for float64 logits (float64 out)", () => {
  const x = Float64Array.from({ length: 12 }, (_, i) => Math.cos(i));
  const got = crossEntropy(x, [1, 2, 0], { classes: 4, grad: true, backend: "wasm" });
  const want = crossEntropy(x, [1, 2, 0], { classes: 4, grad: true, backend: "js" });
  assert.ok(got.grad instanceof Float64Array);
  assert.deepEqual(got, want);
});
