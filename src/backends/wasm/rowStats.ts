/**
 * Host side of the wasm slice statistics (kernel/rowStats.ts), synchronous: stage the slice
 * (sliceStage.ts), run the kernel, read the (5, N) statistics back into `out`.
 */
import type { CrossEntropyArgs, SliceStats, VocabSlice } from "../types.js";
import type { WasmInstance } from "./instance.js";
import { runStaged, stageSlice } from "./sliceStage.js";

export function rowStats(inst: WasmInstance, args: CrossEntropyArgs, slice: VocabSlice, out: SliceStats): void {
  const { n } = args;
  const st = stageSlice(inst, "wasm rowStats", args, slice);
  try {
    const stats = inst.alloc(5 * n * 8);
    try {
      runStaged(inst, "rowStats", args, slice, st, { stats, merged: 0, gradScale: 1 });
      readStats(inst, stats, n, out);
    } finally {
      inst.free(stats);
    }
  } finally {
    st.release();
  }
}

/** Copy (5, N) float64 statistics at `ptr` in wasm memory into `out`. */
function readStats(inst: WasmInstance, ptr: number, n: number, out: SliceStats): void {
  const s = statsViews(inst.f64(ptr, 5 * n), 0, n);
  out.max.set(s.max);
  out.sumExp.set(s.sumExp);
  out.targetLogit.set(s.targetLogit);
  out.weightedSum.set(s.weightedSum);
  out.targetWeight.set(s.targetWeight);
}

/** Slice k's (5, n) statistics in a (slices, 5, n) float64 block (the rowStats kernel's layout), as views. */
export function statsViews(all: Float64Array, k: number, n: number): SliceStats {
  const at = (f: number): Float64Array => all.subarray((5 * k + f) * n, (5 * k + f + 1) * n);
  return { max: at(0), sumExp: at(1), targetLogit: at(2), weightedSum: at(3), targetWeight: at(4) };
}
