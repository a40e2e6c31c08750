// Slice statistics (AssemblyScript, SIMD128): per row of (N, ·) float32 logits, over the classes
// [v0, v1), the max of the capped logits c, Σ exp(c − max), the target's c_y and the linear terms
// (definitions in src/backends/reference/rowStats.ts; merged on the host by mergeStats in
// src/backends/common.ts). Two reads of the slice (a vocabulary slice of a few rows stays in
// cache between them): the max, then Σ exp(c − max); the linear terms in float64.
// Layout: element (i, j) of logits and probs at base + 4·(i·ld + j − col0); weight (V) float64 and
// target (N) int32 index the full vocabulary; stats is (5, N) float64 in SliceStats' field order
// (max, sumExp, targetLogit, weightedSum, targetWeight); scratch holds v1 − v0 float32 (softcap).
import { SL_CLASS_WEIGHT, SL_COL0, SL_GRAD, SL_LABEL_SMOOTHING, SL_LD, SL_LOGITS, SL_N, SL_PROBS, SL_REUSE_EXPS, SL_SOFTCAP, SL_STATS, SL_TARGET, SL_V, SL_V0, SL_V1, SL_WIDTH } from "./abi";
import { expSumChecked, expSumFast, fastRange } from "./exp";
import { gRowMin, hasNaN, hsum2, promoteHigh, promoteLow, rowMax } from "./simd";


// Linear terms of the current row, set by sliceLinear().
let gWc: f64 = 0;
let gWt: f64 = 0;

// @ts-ignore: decorator
@inline function at(p: usize, j: i32): usize {
  return p + (<usize>j << 2);
}

/** The row the softmax sees: x itself, or with softcap s·tanh(x/s) of its n classes in scratch (float32). */
export function cappedRow(x: usize, n: i32, s: f64, scratch: usize): usize {
  if (s <= 0) return x;
  for (let j = 0; j < n; j++) store<f32>(at(scratch, j), <f32>(s * Math.tanh(<f64>load<f32>(at(x, j)) / s)));
  return scratch;
}

/**
 * Σ w_j·c_j, or with probabilities Σ w_j·t'_j·c_j and Σ w_j·t'_j (t' = (1−ε)·t + ε/V, V the full
 * vocabulary) over n classes: c and t float32 at p and probs, w float64 at weight (0: all ones).
 */
function sliceLinear(p: usize, n: i32, probs: usize, weight: usize, eps: f64, v: i32): void {
  let wc0 = f64x2.splat(0);
  let wc1 = f64x2.splat(0);
  let wt0 = f64x2.splat(0);
  let wt1 = f64x2.splat(0);
  const a = f64x2.splat(1 - eps);
  const b = f64x2.splat(eps / <f64>v);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const c = v128.load(at(p, j));
    let w0 = f64x2.splat(1);
    let w1 = f64x2.splat(1);
    if (weight != 0) {
      w0 = v128.load(weight + (<usize>j << 3));
      w1 = v128.load(weight + (<usize>j << 3) + 16);
    }
    if (probs != 0) {
      const t = v128.load(at(probs, j));
      w0 = f64x2.mul(w0, f64x2.add(f64x2.mul(a, promoteLow(t)), b));
      w1 = f64x2.mul(w1, f64x2.add(f64x2.mul(a, promoteHigh(t)), b));
      wt0 = f64x2.add(wt0, w0);
      wt1 = f64x2.add(wt1, w1);
    }
    wc0 = f64x2.add(wc0, f64x2.mul(w0, promoteLow(c)));
    wc1 = f64x2.add(wc1, f64x2.mul(w1, promoteHigh(c)));
  }
  let wc = hsum2(f64x2.add(wc0, wc1));
  let wt = hsum2(f64x2.add(wt0, wt1));
  for (; j < n; j++) {
    let w: f64 = weight != 0 ? load<f64>(weight + (<usize>j << 3)) : 1;
    if (probs != 0) {
      w *= (1 - eps) * <f64>load<f32>(at(probs, j)) + eps / <f64>v;
      wt += w;
    }
    wc += w * <f64>load<f32>(at(p, j));
  }
  gWc = wc;
  gWt = wt;
}

/**
 * Statistics of the vocabulary slices [item0, item1) of the call whose struct (abi.ts: SL_*) lies
 * at `params`: item k is [v0 + k·width, min(v1, v0 + (k+1)·width)), its (5, N) statistics at
 * stats + 40·N·k. `scratch`: the thread's softcap row (one slice's width of float32), or 0.
 */
export function rowStats(params: usize, item0: i32, item1: i32, scratch: usize): void {
  const n = load<i32>(params, SL_N);
  const base = load<i32>(params, SL_V0);
  const end = load<i32>(params, SL_V1);
  const width = load<i32>(params, SL_WIDTH);
  const s = load<f64>(params, SL_SOFTCAP);
  const exps = load<i32>(params, SL_REUSE_EXPS) != 0 ? <usize>load<u32>(params, SL_GRAD) : 0;
  const stats = <usize>load<u32>(params, SL_STATS);
  for (let k = item0; k < item1; k++) {
    const v0 = base + k * width;
    const v1 = min(end, v0 + width);
    sliceStats(
      <usize>load<u32>(params, SL_LOGITS), <usize>load<u32>(params, SL_PROBS), load<i32>(params, SL_LD), load<i32>(params, SL_COL0),
      <usize>load<u32>(params, SL_TARGET), <usize>load<u32>(params, SL_CLASS_WEIGHT), scratch, stats + <usize>(40 * n * k),
      n, load<i32>(params, SL_V), v0, v1, load<f64>(params, SL_LABEL_SMOOTHING), s, exps,
    );
  }
}

/**
 * Statistics of rows [0, n) over the classes [v0, v1); addresses 0 mean absent. Without softcap,
 * `exps` (same layout as logits, may be the logits themselves) receives e_j = exp(c_j − max) of
 * the slice for sliceBackward to reuse.
 */
function sliceStats(
  logits: usize,
  probs: usize,
  ld: i32,
  col0: i32,
  target: usize,
  weight: usize,
  scratch: usize,
  stats: usize,
  n: i32,
  v: i32,
  v0: i32,
  v1: i32,
  eps: f64,
  s: f64,
  exps: usize,
): void {
  const width = v1 - v0;
  const wSlice = weight != 0 ? weight + (<usize>v0 << 3) : 0;
  for (let i = 0; i < n; i++) {
    const off = (<usize>i * <usize>ld + <usize>(v0 - col0)) << 2; // class v0 of row i
    const xRow = logits + off;
    const tRow = probs != 0 ? probs + off : 0;
    const y = target != 0 ? load<i32>(target + (<usize>i << 2)) : -1;
    const eRow = exps != 0 && s == 0 ? exps + off : 0;

    const c = cappedRow(xRow, width, s, scratch);
    gWc = 0;
    gWt = 0;
    if (probs != 0 || (eps > 0 && y >= 0)) sliceLinear(c, width, tRow, wSlice, eps, v);

    // c_y, read before the exps may overwrite the logits.
    const cy: f64 = y >= v0 && y < v1 ? <f64>load<f32>(at(c, y - v0)) : 0;
    // The slice's max, then Σ exp(c − max) (stored into exps when asked): the same sums, so the
    // same bits, with or without the stores.
    let m = rowMax(c, width);
    const lo = gRowMin;
    if (m == Infinity && hasNaN(c, width)) m = NaN; // a NaN pmax skipped (the −Infinity case is below)
    let sum: f64 = 0;
    if (m == -Infinity) {
      if (hasNaN(c, width)) {
        m = NaN;
        sum = NaN;
      }
      if (eRow != 0) memory.fill(eRow, 0, <usize>width << 2);
    } else {
      sum = fastRange(lo, m) ? expSumFast(c, width, m, eRow) : expSumChecked(c, width, m, eRow);
    }
    store<f64>(stats + (<usize>i << 3), <f64>m);
    store<f64>(stats + (<usize>(n + i) << 3), sum);
    store<f64>(stats + (<usize>(2 * n + i) << 3), cy);
    store<f64>(stats + (<usize>(3 * n + i) << 3), gWc);
    store<f64>(stats + (<usize>(4 * n + i) << 3), gWt);
  }
}
