/**
 * linearCrossEntropy on every row of the conformance matrix against the materialised float64
 * path (hidden·Wᵀ + b, then crossEntropy with its gradient, then the two gradient products).
 * Executor rows also run zero-copy: hidden and weight in engine memory, gradWeight returned there.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LinearCrossEntropyOutput } from "../../src/index.js";
import { linearCases } from "../linear/cases.js";
import { assertClose, materialise, type Materialised } from "../linear/oracle.js";
import { label, linearTolerance, MATRIX, runnerFor, type Dtype } from "./matrix.js";

const cases = linearCases();
const wants = cases.map(materialise);

function compare(name: string, got: LinearCrossEntropyOutput, want: Materialised, dtype: Dtype, bias: boolean, grad: boolean): void {
  assertClose(got.loss, want.loss, linearTolerance(dtype, want.loss), `${name}: loss`);
  assertClose(got.lse, want.lse, linearTolerance(dtype, want.lse), `${name}: lse`);
  assert.equal(got.lse instanceof Float32Array, dtype === "float32", `${name}: lse element type follows hidden`);
  if (!grad) {
    assert.equal(got.gradHidden, undefined, `${name}: no gradient asked`);
    return;
  }
  assertClose(got.gradHidden!, want.gradHidden, linearTolerance(dtype, want.gradHidden), `${name}: gradHidden`);
  assertClose(got.gradWeight!, want.gradWeight, linearTolerance(dtype, want.gradWeight), `${name}: gradWeight`);
  if (bias) assertClose(got.gradBias!, want.gradBias, linearTolerance(dtype, want.gradBias), `${name}: gradBias`);
  else assert.equal(got.gradBias, undefined, `${name}: no bias, no gradBias`);
}

for (const row of MATRIX) {
  const run = runnerFor(row);
  test(`linearCrossEntropy conformance on ${label(row)} (${cases.length} cases)`, async () => {
    let checked = 0;
    for (let k = 0; k < cases.length; k++) {
      const c = cases[k]!;
      const want = wants[k]!;
      const dtype: Dtype = c.hidden instanceof Float32Array ? "float32" : "float64";
      if (!row.dtypes.includes(dtype)) continue;
      const bias = c.options.bias !== undefined;
      compare(c.name, await run.linearCrossEntropy(c.hidden, c.weight, c.target, { ...c.options, grad: true }), want, dtype, bias, true);
      compare(`${c.name} no grad`, await run.linearCrossEntropy(c.hidden, c.weight, c.target, { ...c.options }), want, dtype, bias, false);
      checked++;
      const engine = await run.engine();
      if (engine === null || dtype !== "float32") continue;
      const h = engine.alloc(c.hidden.length);
      h.set(c.hidden);
      const w = engine.alloc(c.weight.length);
      w.set(c.weight);
      const zc = await engine.linearCrossEntropy(h, w, c.target, { ...c.options, grad: true });
      compare(`${c.name} zero-copy`, zc, want, dtype, bias, true);
      assert.ok(zc.gradWeight instanceof Float32Array);
      engine.free(zc.gradWeight); // gradWeight of engine-owned weight is a block of engine memory
      engine.free(h);
      engine.free(w);
      assert.equal(engine.memoryStats().bytesInUse, 0, `${c.name}: every block and temporary was freed`);
    }
    assert.ok(checked > 50, `${checked} cases checked`);
  });
}
