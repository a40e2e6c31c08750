/**
 * Finite-difference checks of the reference's gradient, and properties that hold for every
 * input (fast-check): gradient rows sum to 0 without z-loss or softcap, the loss is >= 0,
 * and the js backend agrees with the reference.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { crossEntropy, type CrossEntropyOptions, type TargetInput } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { genValues } from "../helpers/gen.js";

function lossOf(x: Float64Array, target: TargetInput, options: CrossEntropyOptions): number {
  const out = crossEntropy(x, target, { ...options, backend: "reference" });
  const l = out.loss;
  return typeof l === "number" ? l : l.reduce((a, b) => a + b, 0);
}

const n = 3;
const v = 5;
const x0 = genValues(n * v, 11, 2);
const weight = [0.5, 1, 2, 1.5, 0.25];
const probs = { probs: [0.1, 0.2, 0.3, 0.25, 0.15, 1, 0, 0, 0, 0, 0.2, 0.2, 0.2, 0.2, 0.2] };
const variants: [string, TargetInput, CrossEntropyOptions][] = [
  ["plain mean", [1, 4, 0], {}],
  ["weighted sum with smoothing", [1, 4, 0], { reduction: "sum", weight, labelSmoothing: 0.15 }],
  ["none with z-loss and softcap", [1, 4, 0], { reduction: "none", zLoss: 0.05, softcap: 1.5 }],
  ["ignored token, everything on", [1, -100, 0], { weight, labelSmoothing: 0.1, zLoss: 0.02, softcap: 3 }],
  ["probability targets, everything on", probs, { weight, labelSmoothing: 0.1, zLoss: 0.02, softcap: 3 }],
];

for (const [name, target, options] of variants) {
  test(`finite differences match the reference gradient: ${name}`, () => {
    const o = { ...options, classes: v };
    const { grad } = crossEntropy(x0, target, { ...o, grad: true, backend: "reference" });
    const h = 1e-5;
    const fd = new Float64Array(n * v);
    for (let k = 0; k < n * v; k++) {
      const xp = Float64Array.from(x0);
      const xm = Float64Array.from(x0);
      xp[k]! += h;
      xm[k]! -= h;
      fd[k] = (lossOf(xp, target, o) - lossOf(xm, target, o)) / (2 * h);
    }
    assertClose(grad!, fd, { atol: 1e-8, rtol: 1e-6 }, `${name} fd`);
  });
}

const row = (vv: number) => fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: vv, maxLength: vv });
const problem = fc
  .integer({ min: 1, max: 9 })
  .chain((vv) => fc.record({ v: fc.constant(vv), rows: fc.array(row(vv), { minLength: 1, maxLength: 4 }) }))
  .chain(({ v: vv, rows }) =>
    fc.record({
      v: fc.constant(vv),
      rows: fc.constant(rows),
      target: fc.array(fc.integer({ min: 0, max: vv - 1 }), { minLength: rows.length, maxLength: rows.length }),
      eps: fc.constantFrom(0, 0.1, 0.5),
      weighted: fc.boolean(),
    }),
  );

test("property: gradient rows sum to 0 and the loss is >= 0 (no z-loss, no softcap)", () => {
  fc.assert(
    fc.property(problem, ({ v: vv, rows, target, eps, weighted }) => {
      const weight = weighted ? Array.from({ length: vv }, (_, j) => 0.5 + (j % 3)) : undefined;
      const out = crossEntropy(rows, target, { reduction: "none", grad: true, labelSmoothing: eps, ...(weight ? { weight } : {}) });
      for (let i = 0; i < rows.length; i++) {
        let s = 0;
        let mag = 0;
        for (let j = 0; j < vv; j++) {
          s += out.grad![i * vv + j]!;
          mag += Math.abs(out.grad![i * vv + j]!);
        }
        assert.ok(Math.abs(s) <= 1e-12 * (1 + mag), `row ${i} sums to ${s}`);
        assert.ok((out.loss as Float64Array)[i]! >= -1e-15, `row ${i} loss ${(out.loss as Float64Array)[i]}`);
      }
    }),
    { numRuns: 200, seed: 42 },
  );
});

test("property: the js backend agrees with the reference on random inputs and options", () => {
  fc.assert(
    fc.property(problem, fc.constantFrom(0, 0.01), fc.constantFrom(0, 4), ({ v: vv, rows, target, eps, weighted }, z, cap) => {
      const options: CrossEntropyOptions = {
        reduction: "sum",
        grad: true,
        labelSmoothing: eps,
        zLoss: z,
        ...(cap > 0 ? { softcap: cap } : {}),
        ...(weighted ? { weight: Array.from({ length: vv }, (_, j) => 0.5 + (j % 3)) } : {}),
      };
      const a = crossEntropy(rows, target, { ...options, backend: "js" });
      const b = crossEntropy(rows, target, { ...options, backend: "reference" });
      assertClose(a.loss as number, b.loss as number, { atol: 1e-12, rtol: 1e-10 }, "loss");
      assertClose(a.grad!, b.grad!, { atol: 1e-12, rtol: 1e-9 }, "grad");
    }),
    { numRuns: 200, seed: 7 },
  );
});
