/**
 * Few rows, large vocabulary (N <= 8, V in the tens of thousands and more: scoring, generation):
 * splitting rows leaves threads idle, so the vocabulary is split instead. Classes are cut into
 * fixed slices of VOCAB_SLICE columns (by V alone, never by the thread count); the pool's workers
 * claim slices and run the rowStats kernel on each, writing (5, N) statistics per slice; the host
 * merges them in slice order (mergeStats, ../common.ts) into each row's loss and lse; with a
 * gradient, the workers then claim slices again for the sliceBackward kernel (without softcap,
 * rowStats leaves exp(c − m_k) in the gradient buffer and the backward only rescales it, so exp
 * runs once per element, as in the fused kernel). Each slice's
 * statistics and gradient are computed by the same kernel call whichever thread runs it, and the
 * merge order is fixed, so results are bitwise identical for any thread count, the calling thread
 * alone included.
 *
 * The engine calls `vocabSplit` instead of its row job when `useVocabSplit(n, v)` (a choice by
 * shape alone, so a shape always takes the same path): the call is staged as for the row job
 * (crossEntropy.ts stage()), and the per-row loss and lse land where the row job puts them.
 */
import { mergeStats } from "../common.js";
import type { CrossEntropyArgs, SliceStats } from "../types.js";
import type { Staged } from "./crossEntropy.js";
import type { WasmInstance } from "./instance.js";
import type { ThreadPool } from "./pool.js";
import { writeMerged } from "./sliceBackward.js";

/** Classes per slice (32 KiB of float32 per row): slice k is [k·VOCAB_SLICE, min(V, (k+1)·VOCAB_SLICE)). */
export const VOCAB_SLICE = 8192;
/** The most rows for which the vocabulary is split. */
export const VOCAB_SPLIT_MAX_ROWS = 8;

/** True when a call of n rows of V classes runs slice by slice (a choice by shape, never by thread count). */
export function useVocabSplit(n: number, v: number): boolean {
  return n <= VOCAB_SPLIT_MAX_ROWS && v >= 4 * VOCAB_SLICE;
}

/** One pool job over the slices (items) of a call; addresses in the shared memory, 0 for absent. */
export interface SliceJob {
  kind: "rowStats" | "sliceBackward";
  /** Items: the number of slices. */
  n: number;
  /** Rows N of the call. */
  rows: number;
  v: number;
  /** Classes per slice (the last may be narrower). */
  width: number;
  logits: number;
  grad: number;
  probs: number;
  target: number;
  weight: number;
  /** Softcap scratch: V float32 per worker, or 0. */
  scratch: number;
  /** Bytes between two workers' scratch rows (V float32). */
  scratchStride: number;
  /** (K, 5, N) float64: slice k's statistics at stats + 40·N·k. */
  stats: number;
  /** (3, N) float64: the merged max, sum of exps and coefficient. */
  merged: number;
  eps: number;
  s: number;
  scale: number;
  /** Without softcap and with a gradient, rowStats stores exp(c − m_k) in grad and sliceBackward reuses it. */
  exps: boolean;
}

/** Run a slice job's items on this thread, in order: what each worker does for the items it claims. */
function runHere(inst: WasmInstance, j: SliceJob): void {
  for (let k = 0; k < j.n; k++) {
    const v0 = k * j.width;
    const v1 = Math.min(j.v, v0 + j.width);
    if (j.kind === "rowStats") {
      inst.exports.rowStats(j.logits, j.probs, j.v, 0, j.target, j.weight, j.scratch, j.stats + 40 * j.rows * k, j.rows, j.v, v0, v1, j.eps, j.s, j.exps ? j.grad : 0);
    } else {
      inst.exports.sliceBackward(j.logits, j.grad, j.probs, j.v, 0, j.target, j.weight, j.scratch, j.merged, j.rows, j.v, v0, v1, j.eps, j.s, j.scale, j.exps ? j.stats + 40 * j.rows * k : 0);
    }
  }
}

/**
 * A staged cross-entropy call, slice by slice, on the pool (or on this thread when pool is null):
 * fills the staged call's per-row loss and lse and, when it has one, its gradient.
 */
export async function vocabSplit(inst: WasmInstance, pool: ThreadPool | null, args: CrossEntropyArgs, staged: Staged): Promise<void> {
  const p = staged.params;
  const c = {
    logits: p.logits, grad: p.grad, probs: p.probs, target: p.target, weight: p.classWeight, scratch: staged.scratch,
    rowLoss: p.rowLoss, lse: p.lse, eps: p.labelSmoothing, s: p.softcap, scale: p.gradScale, wSum: p.classWeightSum,
  };
  const n = staged.n;
  const v = p.v;
  const slices = Math.ceil(v / VOCAB_SLICE);
  const stats = inst.alloc(slices * 40 * n);
  let merged = 0;
  try {
    if (c.grad !== 0) merged = inst.alloc(24 * n);
    const job: SliceJob = {
      kind: "rowStats", n: slices, rows: n, v, width: VOCAB_SLICE,
      logits: c.logits, grad: c.grad, probs: c.probs, target: c.target, weight: c.weight, scratch: c.scratch, scratchStride: v * 4,
      stats, merged, eps: c.eps, s: c.s, scale: c.scale, exps: c.grad !== 0 && c.s === 0,
    };
    const run = (j: SliceJob): Promise<void> => (pool === null ? Promise.resolve(runHere(inst, j)) : pool.run(j));
    await run(job);
    const all = inst.f64(stats, slices * 5 * n);
    const parts: SliceStats[] = [];
    for (let k = 0; k < slices; k++) {
      const at = (f: number): Float64Array => all.subarray((5 * k + f) * n, (5 * k + f + 1) * n);
      parts.push({ max: at(0), sumExp: at(1), targetLogit: at(2), weightedSum: at(3), targetWeight: at(4) });
    }
    const m = mergeStats(args, parts, { wSum: c.wSum, d: staged.d, scale: c.scale });
    inst.f64(c.rowLoss, n).set(m.rowLoss);
    inst.f64(c.lse, n).set(m.lse);
    if (c.grad !== 0) {
      writeMerged(inst, merged, m);
      await run({ ...job, kind: "sliceBackward" });
    }
  } finally {
    inst.free(stats);
    if (merged !== 0) inst.free(merged);
  }
}
