/**
 * The slice contract for vocabulary-parallel training (docs/slices.md): each holder of a shard
 * of the vocabulary computes its statistics (sliceStats), every holder merges all of them in the
 * same order (mergeSliceStats: the loss and lse of the full logits, the same bits everywhere),
 * then computes its own columns of the gradient (sliceGrad). The full logits never exist in one
 * place. The kernels are the js backend's (asked of the registry by name), in the logits' precision.
 */
import { allocSliceStats, mergeStats } from "../backends/common.js";
import { backendFor } from "../backends/registry.js";
import type { Backend, CrossEntropyArgs } from "../backends/types.js";
import type { LogitsInput, MergedSliceStats, SliceOptions, SliceStatistics, TargetInput } from "./options.js";
import { resolveMerge, resolveMerged, resolveSlice } from "./resolve.js";

/** The backend that runs a slice kernel (the registry checks that it has the kernel). */
function sliceBackend(fn: string, kernel: "rowStats" | "sliceBackward", args: CrossEntropyArgs): Backend {
  return backendFor(fn, "js", { kernel, dtype: args.logits instanceof Float32Array ? "float32" : "float64", n: args.n, v: args.v, d: 0, grad: kernel === "sliceBackward" });
}

const missing = (fn: string, b: Backend, kernel: string): Error => new Error(`${fn}: backend "${b.name}" has no ${kernel} kernel`);

/**
 * Per-row statistics of one vocabulary shard: `logits` (N, v1 − v0) are the classes
 * [options.v0, options.v1) of V = options.classes; `target` the class indices over the full V, or
 * { probs } of the shard's columns (N, v1 − v0).
 */
export function sliceStats(logits: LogitsInput, target: TargetInput, options: SliceOptions): SliceStatistics {
  const { args, slice } = resolveSlice("sliceStats", logits, target, options);
  const st = allocSliceStats(args.n);
  const b = sliceBackend("sliceStats", "rowStats", args);
  if (b.rowStats === undefined) throw missing("sliceStats", b, "rowStats");
  b.rowStats(args, slice, st);
  return { v0: slice.v0, v1: slice.v1, ...st };
}

/**
 * Merge every shard's statistics, in the order given (they must tile [0, V) in order): the loss
 * and lse of the full logits, and what sliceGrad needs. `target`: the class indices, or null for
 * probability targets.
 */
export function mergeSliceStats(parts: readonly SliceStatistics[], target: TargetInput | null, options: SliceOptions): MergedSliceStats {
  const r = resolveMerge("mergeSliceStats", parts, target, options);
  const m = mergeStats(r.args, r.parts);
  return { loss: r.args.spec.reduction === "none" ? m.rowLoss : m.loss, lse: m.lse, max: m.max, sumExp: m.sumExp, coef: m.coef, scale: m.scale };
}

/**
 * d loss / d logits of one shard, (N, v1 − v0) in the logits' precision, from the merged
 * statistics; the arguments and options as for sliceStats.
 */
export function sliceGrad(logits: Float32Array, target: TargetInput, merged: MergedSliceStats, options: SliceOptions): Float32Array;
export function sliceGrad(logits: LogitsInput, target: TargetInput, merged: MergedSliceStats, options: SliceOptions): Float32Array | Float64Array;
export function sliceGrad(logits: LogitsInput, target: TargetInput, merged: MergedSliceStats, options: SliceOptions): Float32Array | Float64Array {
  const fn = "sliceGrad";
  const { args, slice } = resolveSlice(fn, logits, target, options);
  const m = resolveMerged(fn, merged, args.n);
  const gradOut = args.logits instanceof Float32Array ? new Float32Array(args.logits.length) : new Float64Array(args.logits.length);
  const b = sliceBackend(fn, "sliceBackward", args);
  if (b.sliceBackward === undefined) throw missing(fn, b, "sliceBackward");
  b.sliceBackward({ ...args, gradOut }, slice, m);
  return gradOut;
}
