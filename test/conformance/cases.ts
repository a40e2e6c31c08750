/**
 * The conformance suite: one list of cases, run on every backend against the float64
 * reference backend (itself checked against PyTorch in test/backends/reference-vs-torch.test.ts).
 *
 * Each case is run on float64 input and on float32 input (the values are float32-exact), with
 * and without `inplace`. Tolerances follow the dtype: float32 loss and lse within 2e-6 relative
 * (the absolute part scaled by max|logit|), float32 gradient within 1e-6 + 1e-4·|g|.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crossEntropy, type CrossEntropyOptions, type CrossEntropyOutput, type TargetInput } from "../../src/index.js";
import { assertClose, type Tolerance } from "../helpers/close.js";
import { torchFixtures } from "../helpers/fixtures.js";
import { genTargets, genValues } from "../helpers/gen.js";

export interface ConformanceCase {
  name: string;
  logits: Float32Array | Float64Array;
  target: TargetInput;
  options: CrossEntropyOptions;
}

/** Extra cases beyond the PyTorch fixtures: bigger shapes, every option at once. */
function extraCases(): ConformanceCase[] {
  const out: ConformanceCase[] = [];
  const shapes: [number, number][] = [[64, 1000], [17, 1031], [5, 4099], [33, 256]];
  for (const [n, v] of shapes) {
    const logits = genValues(n * v, n + v, 6);
    const target = genTargets(n, n * v, v);
    target[1] = -100;
    const weight = Float64Array.from(genValues(v, 5, 1), (x) => Math.abs(x) + 0.1);
    const probsRaw = genValues(n * v, 9, 1).map((x) => Math.abs(x));
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < v; j++) s += probsRaw[i * v + j]!;
      for (let j = 0; j < v; j++) probsRaw[i * v + j]! /= s;
    }
    const probs = Float64Array.from(new Float32Array(probsRaw));
    out.push({ name: `extra/${n}x${v}/plain`, logits, target, options: { classes: v } });
    out.push({
      name: `extra/${n}x${v}/all-options`,
      logits,
      target,
      options: { classes: v, reduction: "mean", labelSmoothing: 0.1, weight, zLoss: 1e-3, softcap: 4 },
    });
    out.push({ name: `extra/${n}x${v}/probs-all-options`, logits, target: { probs }, options: { classes: v, reduction: "sum", labelSmoothing: 0.05, weight, zLoss: 1e-3, softcap: 4 } });
    const masked = Float64Array.from(logits);
    for (let k = 3; k < masked.length; k += 7) masked[k] = -Infinity;
    const tm = Int32Array.from(target, (y, i) => (y >= 0 && masked[i * v + y] === -Infinity ? (y + 1) % v : y));
    out.push({ name: `extra/${n}x${v}/masked`, logits: masked, target: tm, options: { classes: v, reduction: "none", weight } });
  }
  return out;
}

/** Every conformance case: the PyTorch fixtures plus the extra shapes (float64 logits). */
export function conformanceCases(): ConformanceCase[] {
  const fixtures = torchFixtures().map((c) => ({ name: c.name, logits: c.logits, target: c.target, options: c.options }));
  return [...fixtures, ...extraCases()];
}

/** The tolerance for a dtype, with the absolute part scaled by the largest finite |logit|. */
export function toleranceFor(f32: boolean, logits: ArrayLike<number>): { value: Tolerance; grad: Tolerance } {
  let maxAbs = 1;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (Number.isFinite(x)) maxAbs = Math.max(maxAbs, Math.abs(x));
  }
  return f32
    ? { value: { atol: 2e-6 * maxAbs, rtol: 2e-6 }, grad: { atol: 1e-6, rtol: 1e-4 } }
    : { value: { atol: 1e-12 * maxAbs, rtol: 1e-10 }, grad: { atol: 1e-12, rtol: 1e-9 } };
}

export type Runner = (logits: Float32Array | Float64Array, target: TargetInput, options: CrossEntropyOptions) => CrossEntropyOutput | Promise<CrossEntropyOutput>;

/** Compare one output with the reference's, for case `name`. */
export function compareWithReference(name: string, c: ConformanceCase, got: CrossEntropyOutput, want: CrossEntropyOutput, f32: boolean): void {
  const tol = toleranceFor(f32, c.logits);
  if (typeof want.loss === "number") assertClose(got.loss as number, want.loss, tol.value, `${name} loss`);
  else assertClose(got.loss as ArrayLike<number>, want.loss, tol.value, `${name} per-token loss`);
  assertClose(got.lse, want.lse, tol.value, `${name} lse`);
  if (want.grad !== undefined) assertClose(got.grad!, want.grad, tol.grad, `${name} grad`);
}

/**
 * Register the conformance tests for one backend. `run` computes crossEntropy on that backend
 * (sync or async). Each case runs on float64 and float32 input, with a gradient, without one,
 * and in place; outputs must also keep the input's dtype and leave the inputs untouched.
 */
export function runConformance(label: string, run: Runner, opts: { f64?: boolean } = {}): void {
  const cases = conformanceCases();
  for (const c of cases) {
    test(`${label} conforms: ${c.name}`, async () => {
      const want = crossEntropy(c.logits, c.target, { ...c.options, grad: true, backend: "reference" });
      const wantNoGrad = crossEntropy(c.logits, c.target, { ...c.options, backend: "reference" });
      for (const f32 of opts.f64 === false ? [true] : [true, false]) {
        const x = f32 ? new Float32Array(c.logits) : Float64Array.from(c.logits);
        const before = Float64Array.from(x);
        const got = await run(x, c.target, { ...c.options, grad: true });
        assert.equal(got.lse instanceof Float32Array, f32, `${c.name}: lse dtype follows the logits`);
        assert.equal(got.grad instanceof Float32Array, f32, `${c.name}: grad dtype follows the logits`);
        assertClose(x, before, { atol: 0, rtol: 0 }, `${c.name}: logits left untouched`);
        compareWithReference(`${c.name} [${f32 ? "f32" : "f64"}]`, c, got, want, f32);
        const noGrad = await run(x, c.target, { ...c.options });
        assert.equal(noGrad.grad, undefined);
        compareWithReference(`${c.name} [${f32 ? "f32" : "f64"}, no grad]`, c, noGrad, wantNoGrad, f32);
        const inplace = await run(x, c.target, { ...c.options, grad: true, inplace: true });
        assert.equal(inplace.grad, x, `${c.name}: inplace returns the logits buffer`);
        compareWithReference(`${c.name} [${f32 ? "f32" : "f64"}, inplace]`, c, inplace, want, f32);
      }
    });
  }
}
