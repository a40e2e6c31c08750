// The wasm kernels skip exp's per-vector range test for a row (or vocabulary slice) whose least
// logit lies within exp's fast range of its max (about 87), and keep the test otherwise. Both
// loops compute the same exps and sum them in the same order, so a row must give the same bits
// either way. Each row is computed alone (test skipped) and again with four classes of −1e4
// appended (test kept: their exps are exactly 0, and a whole vector of zeros changes no float32
// partial sum), and the kernels' own float64 loss and lse are compared (the API's float32 outputs
// would hide a changed partial sum), with the float32 gradient: the fused kernel with and without
// a gradient (the forward then reads rows by chunks), fresh and in place, and the vocabulary
// slices of few rows.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { lossSpec } from "../../../src/backends/common.js";
import type { CrossEntropyArgs } from "../../../src/backends/types.js";
import { runJob } from "../../../src/backends/wasm/abi.js";
import { readRows, rowsJob, stage } from "../../../src/backends/wasm/crossEntropy.js";
import { WasmInstance } from "../../../src/backends/wasm/instance.js";
import { vocabSplit } from "../../../src/backends/wasm/vocabSplit.js";

let seed = 11;
const rand = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};

let inst: WasmInstance;
before(async () => {
  inst = await WasmInstance.create("own");
});

interface Out {
  rowLoss: Float64Array;
  lse: Float64Array;
  grad: Float32Array | null;
}

/** One call on rows (n, v) of `x`, in wasm memory: the fused row kernel, or the vocabulary slices. */
async function run(x: Float32Array, n: number, v: number, target: Int32Array, grad: boolean, inplace: boolean, slices: boolean): Promise<Out> {
  const xp = inst.alloc(x.length * 4);
  const gp = grad && !inplace ? inst.alloc(x.length * 4) : 0;
  inst.f32(xp, x.length).set(x);
  const args: CrossEntropyArgs = { logits: inst.f32(xp, x.length), n, v, target, probs: null, spec: lossSpec({ reduction: "none" }), gradOut: null };
  const staged = stage(inst, args, xp, grad ? (inplace ? xp : gp) : 0, 1);
  try {
    if (slices) await vocabSplit(inst, async (job) => runJob(inst, job, 0, job.items), args, staged);
    else runJob(inst, rowsJob(staged, n), 0, n);
    const r = readRows(inst, staged, args.spec);
    return { rowLoss: r.rowLoss, lse: r.lse, grad: grad ? inst.f32(inplace ? xp : gp, x.length).slice() : null };
  } finally {
    for (const p of [...staged.temps, xp, gp]) if (p !== 0) inst.free(p);
  }
}

function sameBits(label: string, got: ArrayLike<number>, want: ArrayLike<number>, v: number, stride: number): void {
  const n = got.length / v;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < v; j++) {
      const a = got[i * v + j]!;
      const b = want[i * stride + j]!;
      if (!Object.is(a, b)) assert.fail(`${label}: row ${i} index ${j}: ${a} (range test skipped) vs ${b} (range test kept)`);
    }
  }
}

async function check(n: number, v: number, span: number, slices: boolean): Promise<void> {
  const x = Float32Array.from({ length: n * v }, () => (rand() - 0.5) * span);
  const masked = new Float32Array(n * (v + 4)).fill(-1e4);
  for (let i = 0; i < n; i++) masked.set(x.subarray(i * v, (i + 1) * v), i * (v + 4));
  const target = Int32Array.from({ length: n }, (_, i) => (i * 9973) % v);
  for (const grad of [false, true]) {
    for (const inplace of grad ? [false, true] : [false]) {
      const a = await run(x, n, v, target, grad, inplace, slices);
      const b = await run(masked, n, v + 4, target, grad, inplace, slices);
      const label = `${slices ? "slices" : "rows"} n=${n} v=${v} grad=${grad} inplace=${inplace}`;
      sameBits(`${label} loss`, a.rowLoss, b.rowLoss, 1, 1);
      sameBits(`${label} lse`, a.lse, b.lse, 1, 1);
      if (a.grad !== null) sameBits(`${label} grad`, a.grad, b.grad!, v, v + 4);
    }
  }
}

test("exp's range test skipped or kept: the same bits, fused row kernel (several sum blocks and chunks)", async () => {
  for (const [n, v, span] of [[3, 4100, 80], [2, 256, 20], [4, 64, 86]] as const) await check(n, v, span, false);
});

test("exp's range test skipped or kept: the same bits, vocabulary slices of few rows", async () => {
  await check(4, 65532, 60, true); // 8 slices of 8192 classes, the last 4 short: the masked call fills it
});
