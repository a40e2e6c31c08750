/**
 * linearCrossEntropy's LM options and outputs (temperature, denominator, accuracy, argmax,
 * entropy, the z-loss term apart) on every row of the conformance matrix, against the
 * materialised oracle: the reference crossEntropy on the float64 logits hidden·weightᵀ + bias,
 * with gradHidden = G·weight, gradWeight = Gᵀ·hidden and gradBias = Σ_rows G from its gradient G.
 * Odd N, D and V; chunks of a few rows, N not a multiple of them, so chunk boundaries are crossed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LinearCrossEntropyOutput } from "../../src/index.js";
import { label, linearTolerance, MATRIX, runnerFor, type Dtype } from "../conformance/matrix.js";
import { buildCases, type OptionSet } from "./cases.js";
import { assertClose, type LinearCase, materialise, type Materialised } from "./oracle.js";

const SHAPES: readonly (readonly [number, number, number])[] = [
  [7, 5, 3],
  [13, 11, 37],
  [10, 6, 301],
];

const OUTPUTS = { accuracy: true, argmax: true, entropy: true };

function optionSets(v: number, rand: () => number): OptionSet[] {
  const classWeight = Array.from({ length: v }, () => 0.25 + 2 * rand());
  const bias = Array.from({ length: v }, () => rand() - 0.5);
  const rich = { classWeight, labelSmoothing: 0.1, zLoss: 0.01, softcap: 3, bias };
  return [
    { name: "temperature 0.7, outputs", options: { temperature: 0.7, ...OUTPUTS }, ignored: 0.3 },
    { name: "temperature 2.5, every option, mean", options: { ...rich, temperature: 2.5, ...OUTPUTS }, ignored: 0.25 },
    { name: "denominator, temperature, zLoss", options: { denominator: 97, temperature: 1.3, zLoss: 0.02, bias, ...OUTPUTS }, ignored: 0.2 },
    { name: "denominator, classWeight, smoothing", options: { denominator: 5.5, classWeight, labelSmoothing: 0.2, ...OUTPUTS } },
    { name: "sum, every option", options: { ...rich, reduction: "sum", temperature: 0.5, ...OUTPUTS }, ignored: 0.2 },
    { name: "none, every option", options: { ...rich, reduction: "none", temperature: 1.7, ...OUTPUTS }, ignored: 0.3 },
    { name: "argmax alone, ignoreIndex 0", options: { argmax: true, ignoreIndex: 0, temperature: 0.9 } },
    { name: "entropy alone, none", options: { entropy: true, reduction: "none", softcap: 1.5 }, ignored: 0.3 },
    { name: "zLoss apart, no other output", options: { zLoss: 0.05, bias } },
    { name: "zLoss 0: no term", options: { zLoss: 0, temperature: 2, ...OUTPUTS } },
    { name: "probs, temperature, argmax, entropy", options: { ...rich, temperature: 1.9, argmax: true, entropy: true }, probs: true },
    { name: "probs, denominator", options: { denominator: 3, zLoss: 0.01, temperature: 0.6, argmax: true, entropy: true }, probs: true },
    { name: "probs, none", options: { reduction: "none", zLoss: 0.01, temperature: 0.6, entropy: true, argmax: true }, probs: true },
    { name: "all ignored, outputs", options: { temperature: 1.5, zLoss: 0.01, ...OUTPUTS }, ignored: 1 },
    { name: "all ignored, denominator", options: { denominator: 8, zLoss: 0.01, ...OUTPUTS }, ignored: 1 },
  ];
}

// Chunks of 3 or 4 rows (N = 7, 13, 10 is a multiple of neither), one row, or a tiny budget.
const CHUNKS = [{ chunkSize: 4 }, { chunkSize: 3 }, { chunkSize: 1 }, { memoryBudget: 64 }];

/** A reduced output (number, or per token under "none"), present exactly when `want` is. */
function checkReduced(name: string, got: number | ArrayLike<number> | undefined, want: number | Float64Array | undefined, dtype: Dtype, exact = false): void {
  if (want === undefined) {
    assert.equal(got, undefined, `${name}: present, want absent`);
    return;
  }
  assert.notEqual(got, undefined, `${name}: absent`);
  if (typeof want !== "number") assert.equal(got instanceof Float32Array, dtype === "float32", `${name}: element type follows hidden`);
  const tol = exact ? { atol: 1e-12, rtol: 1e-12 } : linearTolerance(dtype, want);
  assertClose(got as number | ArrayLike<number>, want, tol, name);
}

function compare(c: LinearCase, name: string, got: LinearCrossEntropyOutput, want: Materialised, dtype: Dtype, grad: boolean): void {
  assertClose(got.loss, want.loss, linearTolerance(dtype, want.loss), `${name}: loss`);
  assertClose(got.lse, want.lse, linearTolerance(dtype, want.lse), `${name}: lse`);
  // argmax: the oracle's, except that float32 may pick another class on a near-tie of the logits.
  let sameArgmax = true;
  if (want.argmax === undefined) assert.equal(got.argmax, undefined, `${name}: argmax present, not asked for`);
  else {
    assert.ok(got.argmax instanceof Int32Array && got.argmax.length === c.n, `${name}: argmax is an Int32Array of N`);
    for (let i = 0; i < c.n; i++) {
      const a = got.argmax[i]!;
      const b = want.argmax[i]!;
      if (a === b) continue;
      sameArgmax = false;
      const xa = want.logits[i * c.v + a]!;
      const xb = want.logits[i * c.v + b]!;
      assert.ok(dtype === "float32" && Math.abs(xa - xb) <= 1e-4 * Math.max(1, Math.abs(xb)), `${name}: argmax[${i}] is ${a} (logit ${xa}), want ${b} (logit ${xb})`);
    }
  }
  if (sameArgmax) checkReduced(`${name}: accuracy`, got.accuracy, want.accuracy, dtype, true);
  checkReduced(`${name}: entropy`, got.entropy, want.entropy, dtype);
  checkReduced(`${name}: zLoss`, got.zLoss, want.zLoss, dtype);
  if (!grad) {
    assert.equal(got.gradHidden, undefined, `${name}: no gradient asked`);
    return;
  }
  assertClose(got.gradHidden!, want.gradHidden, linearTolerance(dtype, want.gradHidden), `${name}: gradHidden`);
  assertClose(got.gradWeight!, want.gradWeight, linearTolerance(dtype, want.gradWeight), `${name}: gradWeight`);
  if (c.options.bias !== undefined) assertClose(got.gradBias!, want.gradBias, linearTolerance(dtype, want.gradBias), `${name}: gradBias`);
}

const all = buildCases(20261202, SHAPES, optionSets, CHUNKS);
const wants = all.map(materialise);

test("the oracle's cases ask for every output and cross chunk boundaries", () => {
  assert.ok(wants.some((w) => typeof w.accuracy === "number" && w.accuracy > 0), "a case with a non-zero accuracy");
  assert.ok(wants.some((w) => w.accuracy instanceof Float64Array), "per-token accuracy");
  assert.ok(wants.some((w) => w.zLoss !== undefined) && wants.some((w, k) => w.zLoss === undefined && all[k]!.options.zLoss === 0), "zLoss on, and zLoss 0 without the term");
  assert.ok(all.every((c) => c.options.chunkSize === undefined || c.n % (c.options.chunkSize as number) !== 0 || c.options.chunkSize === 1));
});

for (const row of MATRIX) {
  const run = runnerFor(row);
  test(`linearCrossEntropy LM outputs on ${label(row)} (${all.length} cases)`, async () => {
    let checked = 0;
    for (let k = 0; k < all.length; k++) {
      const c = all[k]!;
      const dtype: Dtype = c.hidden instanceof Float32Array ? "float32" : "float64";
      if (!row.dtypes.includes(dtype)) continue;
      compare(c, c.name, await run.linearCrossEntropy(c.hidden, c.weight, c.target, { ...c.options, grad: true }), wants[k]!, dtype, true);
      compare(c, `${c.name} no grad`, await run.linearCrossEntropy(c.hidden, c.weight, c.target, c.options), wants[k]!, dtype, false);
      checked++;
    }
    assert.ok(checked >= 45, `${checked} cases checked`);
  });
}
