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
  const b = inst.f64(ptr, 5 * n);
  out.max.set(b.subarray(0, n));
  out.sumExp.set(b.subarray(n, 2 * n));
  out.targetLogit.set(b.subarray(2 * n, 3 * n));
  out.weightedSum.set(b.subarray(3 * n, 4 * n));
  out.targetWeight.set(b.subarray(4 * n, 5 * n));
}
