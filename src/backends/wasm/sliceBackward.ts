/**
 * Host side of the wasm slice backward (kernel/sliceBackward.ts), synchronous: stage the slice
 * (sliceStage.ts) and the merged (M, S, A) rows, run the kernel in place over the staged logits,
 * copy the slice's gradient out into args.gradOut.
 */
import type { CrossEntropyArgs, MergedStats, VocabSlice } from "../types.js";
import type { WasmInstance } from "./instance.js";
import { runStaged, stageSlice } from "./sliceStage.js";

export function sliceBackward(inst: WasmInstance, args: CrossEntropyArgs, slice: VocabSlice, merged: MergedStats): void {
  const { n, gradOut } = args;
  if (gradOut === null) return;
  const { v0, col0, stride } = slice;
  const st = stageSlice(inst, "wasm sliceBackward", args, slice);
  try {
    const m = inst.alloc(3 * n * 8);
    try {
      writeMerged(inst, m, merged);
      runStaged(inst, "sliceBackward", args, slice, st, { stats: 0, merged: m, gradScale: merged.scale });
      const g = inst.f32(st.x, n * st.width);
      for (let i = 0; i < n; i++) gradOut.set(g.subarray(i * st.width, (i + 1) * st.width), i * stride + v0 - col0);
    } finally {
      inst.free(m);
    }
  } finally {
    st.release();
  }
}

/** Write the merged rows the kernel reads, (3, N) float64 at `ptr`: max, sumExp, coef. */
export function writeMerged(inst: WasmInstance, ptr: number, merged: MergedStats): void {
  const n = merged.max.length;
  const b = inst.f64(ptr, 3 * n);
  b.set(merged.max, 0);
  b.set(merged.sumExp, n);
  b.set(merged.coef, 2 * n);
}
