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
import { SL_PARAMS_BYTES, writeSliceParams, type Job } from "./abi.js";
import type { Staged } from "./crossEntropy.js";
import type { WasmInstance } from "./instance.js";
import { statsViews } from "./rowStats.js";
import { writeMerged } from "./sliceBackward.js";

/** Classes per slice (32 KiB of float32 per row): slice k is [k·VOCAB_SLICE, min(V, (k+1)·VOCAB_SLICE)). */
export const VOCAB_SLICE = 8192;
/** The most rows for which the vocabulary is split. */
const VOCAB_SPLIT_MAX_ROWS = 8;

/** True when a call of n rows of V classes runs slice by slice (a choice by shape, never by thread count). */
export function useVocabSplit(n: number, v: number): boolean {
  return n <= VOCAB_SPLIT_MAX_ROWS && v >= 4 * VOCAB_SLICE;
}

/**
 * The most logits (n·v) for which the engine takes the workers only when they are already awake
 * (N = 1 at V = 128256 or 262144): such a call takes 0.1–0.3 ms, less than a worker may take to
 * wake from Atomics.wait (20–400 µs on a small VM), so with sleeping workers it runs on the calling
 * thread alone (waking them made calls 5 ms apart 0.87–0.93× as fast as one thread's, 2026-12-02),
 * and with workers still spinning from the last call, on them too (calls back to back 1.26–1.95× as
 * fast, 2026-12-03). The slices and their merge are the same either way, so is every bit.
 */
export const VOCAB_SPLIT_LOCAL_MAX = 1 << 18;

/**
 * A staged cross-entropy call, slice by slice: `run` runs a job over all its items (on the pool,
 * or on this thread); fills the staged call's per-row loss and lse and, when it has one, its
 * gradient. The staged softcap scratch (one row of V float32 per thread) serves as each thread's
 * slice row.
 */
export async function vocabSplit(inst: WasmInstance, run: (job: Job) => Promise<void>, args: CrossEntropyArgs, staged: Staged): Promise<void> {
  const p = staged.params;
  const n = staged.n;
  const v = p.v;
  const slices = Math.ceil(v / VOCAB_SLICE);
  const temps: number[] = [];
  const take = (bytes: number): number => {
    const ptr = inst.alloc(bytes);
    temps.push(ptr);
    return ptr;
  };
  try {
    const params = take(SL_PARAMS_BYTES);
    const stats = take(slices * 40 * n);
    const merged = p.grad !== 0 ? take(24 * n) : 0;
    writeSliceParams(inst, params, {
      labelSmoothing: p.labelSmoothing, softcap: p.softcap, gradScale: p.gradScale,
      logits: p.logits, grad: p.grad, probs: p.probs, target: p.target, classWeight: p.classWeight, stats, merged,
      ld: v, col0: 0, n, v, v0: 0, v1: v, width: VOCAB_SLICE, reuseExps: p.grad !== 0 && p.softcap === 0,
    });
    // With a gradient the statistics job leaves each slice's exps in the cache of the core that
    // computed them, and the backward rescales them. Slices claimed one at a time sent about half
    // of them to the other core (the backward took 42 µs on 2 threads against 39 on 1 at N = 4,
    // V = 128256); with `affinity` each thread first takes a chunk of consecutive slices, mostly
    // the same chunk in both jobs, and the rest go one at a time for balance.
    const job: Job = { kernel: "rowStats", params, items: slices, scratch: staged.scratch, scratchStride: v * 4, affinity: true };
    await run(job);
    const m = mergeStats(args, sliceParts(inst, stats, slices, n), { wSum: p.classWeightSum, d: staged.d, scale: p.gradScale });
    inst.f64(p.rowLoss, n).set(m.rowLoss);
    inst.f64(p.lse, n).set(m.lse);
    if (merged !== 0) {
      writeMerged(inst, merged, m);
      await run({ ...job, kernel: "sliceBackward" });
    }
  } finally {
    for (const ptr of temps) inst.free(ptr);
  }
}

/** The views of one call's (K, 5, N) statistics, kept while the next call's lie at the same place. */
interface Parts {
  buffer: ArrayBufferLike;
  ptr: number;
  slices: number;
  n: number;
  parts: SliceStats[];
}
const lastParts = new WeakMap<WasmInstance, Parts>();

/**
 * The statistics of K slices of N rows at `stats` as SliceStats views (five per slice). Calls of
 * one shape get their statistics at the same address (the allocator is deterministic), so the
 * views of the last call are reused while the address, the shape and the memory buffer are the
 * same: building the 5·K views took about 8 µs per call at N = 1, K = 16 (Node 26), a large
 * part of the engine's own work around the kernels there.
 */
export function sliceParts(inst: WasmInstance, stats: number, slices: number, n: number): SliceStats[] {
  const buffer = inst.buffer();
  const last = lastParts.get(inst);
  if (last !== undefined && last.buffer === buffer && last.ptr === stats && last.slices === slices && last.n === n) return last.parts;
  const all = inst.f64(stats, slices * 5 * n);
  const parts = Array.from({ length: slices }, (_, k) => statsViews(all, k, n));
  lastParts.set(inst, { buffer, ptr: stats, slices, n, parts });
  return parts;
}
