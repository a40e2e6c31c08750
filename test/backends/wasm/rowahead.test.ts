// With a gradient, the fused kernel starts on the next row while it finishes one: pass 2 reads
// the next row ahead (a prefetch), and pass 3 takes the next row's max and least value while it
// scales the gradient (scaleVectorsRowMax), where a row computed alone takes them by rowMax.
// Rows are independent, so every row must give the same bits either way. Each case runs all its
// rows in one kernel call (each row after the first gets its max from the row before) and again
// one row per call, and compares the kernel's float64 loss and lse and the float32 gradient bit
// for bit, fresh and in place. The rows hold what a max must handle exactly as rowMax does:
// NaN in a vector lane (skipped by pmax) and in the scalar tail (propagated), ±Infinity, rows of
// −Infinity, −0 against +0, and ignored rows between others.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { lossSpec } from "../../../src/backends/common.js";
import type { CrossEntropyArgs } from "../../../src/backends/types.js";
import { runJob } from "../../../src/backends/wasm/abi.js";
import { readRows, rowsJob, stage } from "../../../src/backends/wasm/crossEntropy.js";
import { WasmInstance } from "../../../src/backends/wasm/instance.js";

let inst: WasmInstance;
before(async () => {
  inst = await WasmInstance.create("own");
});

let seed = 5;
const rand = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};

interface Out {
  rowLoss: Float64Array;
  lse: Float64Array;
  grad: Float32Array;
}

/** All n rows in one call (together) or one row per call, with a gradient (fresh or in place). */
function run(x: Float32Array, n: number, v: number, target: Int32Array, inplace: boolean, together: boolean): Out {
  const xp = inst.alloc(x.length * 4);
  const gp = inplace ? xp : inst.alloc(x.length * 4);
  inst.f32(xp, x.length).set(x);
  const args: CrossEntropyArgs = { logits: inst.f32(xp, x.length), n, v, target, probs: null, spec: lossSpec({ reduction: "none" }), gradOut: null };
  const staged = stage(inst, args, xp, gp, 1);
  try {
    const job = rowsJob(staged, n);
    if (together) runJob(inst, job, 0, n);
    else for (let i = 0; i < n; i++) runJob(inst, job, i, i + 1);
    const r = readRows(inst, staged, args.spec);
    return { rowLoss: r.rowLoss, lse: r.lse, grad: inst.f32(gp, x.length).slice() };
  } finally {
    for (const p of [...staged.temps, xp, ...(inplace ? [] : [gp])]) inst.free(p);
  }
}

function sameBits(label: string, got: ArrayLike<number>, want: ArrayLike<number>, v: number): void {
  for (let k = 0; k < got.length; k++) {
    if (!Object.is(got[k], want[k])) assert.fail(`${label}: row ${Math.floor(k / v)} index ${k % v}: ${got[k]} (rows together) vs ${want[k]} (one row per call)`);
  }
}

/** Row i of n: random logits, then the special values of its kind. */
function rows(n: number, v: number): Float32Array {
  const x = Float32Array.from({ length: n * v }, () => (rand() - 0.5) * 30);
  const tail = v - (v % 4); // the first index of rowMax's scalar tail (none when v % 4 == 0)
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * v, (i + 1) * v);
    switch (i % 9) {
      case 1: row[Math.floor(v / 3)] = NaN; break; // in a vector lane
      case 2: if (tail < v) row[v - 1] = NaN; else row[v - 2] = NaN; break; // in the tail where there is one
      case 3: row[5] = Infinity; break;
      case 4: row[7] = -Infinity; row[v - 1] = -Infinity; break; // masks
      case 5: row.fill(-Infinity); break;
      case 6: row.fill(0); for (let j = 0; j < v; j += 2) row[j] = -0; break; // the max is ±0
      case 7: row.fill(-Infinity); row[v - 1] = 3; break; // the max in the tail alone
      default: break;
    }
  }
  return x;
}

test("rows read ahead and maxed ahead by the row before: the same bits as one row per call", () => {
  for (const v of [1003, 64, 4099, 50]) {
    const n = 19;
    const x = rows(n, v);
    const target = Int32Array.from({ length: n }, (_, i) => (i % 4 === 3 ? -1 : (i * 7919) % v)); // some rows ignored
    for (const inplace of [false, true]) {
      const a = run(x, n, v, target, inplace, true);
      const b = run(x, n, v, target, inplace, false);
      const label = `v=${v} inplace=${inplace}`;
      sameBits(`${label} loss`, a.rowLoss, b.rowLoss, 1);
      sameBits(`${label} lse`, a.lse, b.lse, 1);
      sameBits(`${label} grad`, a.grad, b.grad, v);
      // The special rows reach the outputs they should: a NaN row's loss is NaN, a masked row's is finite.
      assert.ok(Number.isNaN(a.rowLoss[1]!) && Number.isNaN(a.rowLoss[2]!), `${label}: NaN rows give NaN`);
      assert.ok(Number.isFinite(a.rowLoss[4]!), `${label}: a masked row's loss is finite (${a.rowLoss[4]})`);
    }
  }
});
