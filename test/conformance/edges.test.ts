/**
 * Edge cases on every row of the conformance matrix, against the reference: -Infinity logits and
 * targets, ignored rows, V = 1, every token ignored; and, for the synchronous wasm backend, more
 * rows than its 16 MiB staging block holds.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crossEntropy } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { crossEntropyTolerance, label, MATRIX, runnerFor } from "./matrix.js";

for (const row of MATRIX) {
  const run = runnerFor(row);
  test(`${label(row)}: -Infinity logits and targets, ignored rows, V = 1, all ignored`, async () => {
    for (const dtype of row.dtypes) {
      const make = (a: number[]): Float32Array | Float64Array => (dtype === "float32" ? new Float32Array(a) : new Float64Array(a));
      const x = make([-Infinity, 1, 2, -Infinity, 0.5, -Infinity, 3, 1]);
      const tol = crossEntropyTolerance(dtype, x);
      for (const t of [[0, 2], [1, 0], [-100, 3]]) {
        const want = crossEntropy(x, t, { classes: 4, grad: true, backend: "reference" });
        const got = await run.crossEntropy(x, t, { classes: 4, grad: true });
        assertClose(got.loss as number, want.loss as number, tol.value, `${dtype} masked ${t}: loss`);
        assertClose(got.lse, want.lse, tol.value, `${dtype} masked ${t}: lse`);
        assertClose(got.grad!, want.grad!, tol.grad, `${dtype} masked ${t}: grad`);
        for (const g of got.grad!) assert.ok(Number.isFinite(g), `${dtype} masked ${t}: finite gradient`);
      }
      assert.equal((await run.crossEntropy(x, [0, 2], { classes: 4, grad: true })).loss, Infinity, "a -Infinity target logit");
      assert.equal((await run.crossEntropy(x, [1, 2], { classes: 4, labelSmoothing: 0.1 })).loss, Infinity, "-Infinity logits with smoothing");
      const v1 = await run.crossEntropy(make([3, -2, 7]), [0, 0, 0], { classes: 1, grad: true });
      assert.equal(v1.loss, 0);
      assert.deepEqual(Array.from(v1.grad!), [0, 0, 0]);
      const none = await run.crossEntropy(x, [-100, -100], { classes: 4, grad: true });
      assert.ok(Number.isNaN(none.loss), "mean over no tokens is NaN");
      assert.deepEqual(Array.from(none.grad!), new Array(8).fill(0));
      assertClose(none.lse, crossEntropy(x, [-100, -100], { classes: 4, backend: "reference" }).lse, tol.value, `${dtype} all ignored: lse`);
    }
  });
}

test("wasm sync streams more rows than one staging block (600 × 8000 > 4M elements)", async () => {
  const row = MATRIX.find((r) => r.backend === "wasm" && r.mode === "sync");
  if (row === undefined) return; // XENT_CONFORMANCE_BACKEND keeps other rows
  const n = 600;
  const v = 8000;
  const x = new Float32Array(n * v);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 5;
  const t = Array.from({ length: n }, (_, i) => (i * 7919) % v);
  const want = crossEntropy(x, t, { classes: v, grad: true, backend: "js" });
  const got = await runnerFor(row).crossEntropy(x, t, { classes: v, grad: true });
  const tol = crossEntropyTolerance("float32", x);
  assertClose(got.loss as number, want.loss as number, tol.value, "loss");
  assertClose(got.lse, want.lse, tol.value, "lse");
  assertClose(got.grad!, want.grad!, tol.grad, "grad");
});
