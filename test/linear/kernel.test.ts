/**
 * The js kernel's own properties: the strided matmul, results independent of the chunking,
 * memory bounded by the budget, and the gradient filter's error bound.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { matmul } from "../../src/backends/js/matmul.js";
import { linearCrossEntropy } from "../../src/index.js";
import { assertClose, randomArray, rng } from "./oracle.js";

describe("js matmul", () => {
  it("matches a naive product for odd shapes, every stride layout, with and without accumulation", () => {
    const rand = rng(7);
    for (const m of [1, 3, 4, 5, 9]) {
      for (const n of [1, 2, 4, 7, 13]) {
        for (const k of [1, 3, 8, 11]) {
          const a = randomArray(m * k + 3, 1, rand, false);
          const b = randomArray(k * n + 5, 1, rand, false);
          for (const aT of [false, true]) {
            for (const bT of [false, true]) {
              for (const accumulate of [false, true]) {
                // A (m, k) at offset 3, stored row-major or transposed; B (k, n) at offset 5 likewise.
                const av = aT ? { data: a, off: 3, rs: 1, cs: m } : { data: a, off: 3, rs: k, cs: 1 };
                const bv = bT ? { data: b, off: 5, rs: 1, cs: k } : { data: b, off: 5, rs: n, cs: 1 };
                const c = randomArray(m * (n + 2), 1, rand, false); // row stride n + 2
                const want = Float64Array.from(c);
                for (let i = 0; i < m; i++) {
                  for (let j = 0; j < n; j++) {
                    let s = 0;
                    for (let p = 0; p < k; p++) s += a[av.off + i * av.rs + p * av.cs]! * b[bv.off + p * bv.rs + j * bv.cs]!;
                    want[i * (n + 2) + j] = accumulate ? want[i * (n + 2) + j]! + s : s;
                  }
                }
                matmul(m, n, k, av, bv, { data: c, off: 0, rs: n + 2 }, accumulate);
                assertClose(c, want, { atol: 1e-12, rtol: 1e-12 }, `m=${m} n=${n} k=${k} aT=${aT} bT=${bT} acc=${accumulate}`);
              }
            }
          }
        }
      }
    }
  });
});

function problem(seed: number, n: number, d: number, v: number, scale: number) {
  const rand = rng(seed);
  return {
    hidden: randomArray(n * d, scale, rand, true) as Float32Array,
    weight: randomArray(v * d, 1, rand, true) as Float32Array,
    bias: randomArray(v, 0.5, rand, true) as Float32Array,
    target: Array.from({ length: n }, (_, i) => (i % 7 === 3 ? -100 : Math.floor(rand() * v))),
  };
}

describe("js linearCrossEntropy chunking", () => {
  it("loss, lse and gradHidden are bit-identical for every chunk size; gradWeight agrees to float32 rounding", () => {
    const { hidden, weight, bias, target } = problem(11, 23, 9, 530, 1);
    const opts = { grad: true, bias, labelSmoothing: 0.05, zLoss: 0.01, backend: "js" } as const;
    const base = linearCrossEntropy(hidden, weight, target, { ...opts, chunkSize: 23 });
    for (const chunkSize of [1, 2, 5, 8]) {
      const out = linearCrossEntropy(hidden, weight, target, { ...opts, chunkSize });
      assert.equal(out.loss, base.loss, `loss, chunkSize ${chunkSize}`);
      assert.deepEqual(out.lse, base.lse, `lse, chunkSize ${chunkSize}`);
      assert.deepEqual(out.gradHidden, base.gradHidden, `gradHidden, chunkSize ${chunkSize}`);
      assertClose(out.gradBias!, base.gradBias!, { atol: 1e-7, rtol: 1e-5 }, `gradBias, chunkSize ${chunkSize}`);
      assertClose(out.gradWeight!, base.gradWeight!, { atol: 1e-7, rtol: 1e-5 }, `gradWeight, chunkSize ${chunkSize}`);
    }
  });

  it("scratch memory follows the budget, not N×V", () => {
    const v = 5000, d = 16;
    const budget = 64 * 1024;
    for (const n of [40, 400]) {
      const { hidden, weight, target } = problem(3, n, d, v, 1);
      const out = linearCrossEntropy(hidden, weight, target, { grad: true, memoryBudget: budget, backend: "js" });
      const rows = Math.floor(budget / (v * 4)); // 3 rows of logits per chunk
      assert.equal(out.scratchBytes, rows * v * 4 + rows * d * 8 + 16 * rows, `N=${n}`);
      assert.ok(out.scratchBytes < 0.02 * n * v * 4 || n < 100, `N=${n}: ${out.scratchBytes} bytes`);
    }
    // The default budget is 4 MiB of logits.
    const { hidden, weight, target } = problem(3, 300, 8, 5000, 1);
    const out = linearCrossEntropy(hidden, weight, target, { backend: "js" });
    assert.ok(out.scratchBytes <= 4 * 1024 * 1024 + 300 * 16, `${out.scratchBytes}`);
  });
});

describe("js linearCrossEntropy gradFilter", () => {
  // Peaked softmax rows (large logits), one row per tile: most 256-class tiles are negligible.
  const n = 12, d = 9, v = 700;
  const { hidden, weight, bias, target } = problem(5, n, d, v, 12);
  const opts = { grad: true, bias, chunkSize: 1, backend: "js" } as const;
  const exact = linearCrossEntropy(hidden, weight, target, opts);

  it("off (false or 0) gives exactly the unfiltered result", () => {
    for (const gradFilter of [false, 0] as const) {
      const out = linearCrossEntropy(hidden, weight, target, { ...opts, gradFilter });
      assert.deepEqual(out.gradHidden, exact.gradHidden);
      assert.deepEqual(out.gradWeight, exact.gradWeight);
    }
  });

  it("on: the loss, lse and gradBias are untouched, and the gradients' error is within the bound", () => {
    const tau = 2 ** -12;
    const out = linearCrossEntropy(hidden, weight, target, { ...opts, gradFilter: true });
    assert.equal(out.loss, exact.loss);
    assert.deepEqual(out.lse, exact.lse);
    assert.deepEqual(out.gradBias, exact.gradBias);
    const counted = target.filter((y) => y >= 0).length; // the mean's D
    const scale = 1 / counted;
    let changed = 0;
    // |ΔdHidden[i][k]| <= τ·scale·Σ_j |W[j][k]|, |ΔdWeight[j][k]| <= τ·scale·Σ_i |h[i][k]| (plus float32 rounding).
    for (let k = 0; k < d; k++) {
      let sw = 0;
      for (let j = 0; j < v; j++) sw += Math.abs(weight[j * d + k]!);
      let sh = 0;
      for (let i = 0; i < n; i++) sh += Math.abs(hidden[i * d + k]!);
      for (let i = 0; i < n; i++) {
        const e = Math.abs(out.gradHidden![i * d + k]! - exact.gradHidden![i * d + k]!);
        assert.ok(e <= tau * scale * sw + 1e-6, `gradHidden[${i}][${k}] error ${e}`);
      }
      for (let j = 0; j < v; j++) {
        const e = Math.abs(out.gradWeight![j * d + k]! - exact.gradWeight![j * d + k]!);
        if (e > 0) changed++;
        assert.ok(e <= tau * scale * sh + 1e-7, `gradWeight[${j}][${k}] error ${e}`);
      }
    }
    assert.ok(changed > 100, `the filter skipped tiles on peaked rows (${changed} entries changed)`);
  });

  it("a threshold above every gradient skips every tile", () => {
    const out = linearCrossEntropy(hidden, weight, target, { ...opts, gradFilter: 10 });
    assert.ok(out.gradHidden!.every((x) => x === 0));
    assert.ok(out.gradWeight!.every((x) => x === 0));
    assert.deepEqual(out.gradBias, exact.gradBias);
  });
});
