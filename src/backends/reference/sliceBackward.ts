/**
 * The reference slice backward: the gradient of columns [v0, v1) of each row from the merged
 * statistics (../common.ts mergeStats), float64. With p_j = exp(c_j − lse) over the full row and
 * A the merged coefficient (MergedStats.coef), every option's gradient w.r.t. c has one form:
 *
 *   dL/dc_j = A·p_j − B_j,   index: B_j = (ε/V)·w_j + (1-ε)·w_y·[j=y]    probs: B_j = w_j·t'_j
 *
 * (the fused reference, crossEntropy.ts, writes the same terms out one by one), then times the
 * reduction's scale and (1 − tanh²(x/s)) under softcap. Ignored rows get zeros.
 * Each element is read before it is written, so gradOut may be the logits (inplace).
 */
import type { CrossEntropyArgs, MergedStats, VocabSlice } from "../types.js";

export function sliceBackward(args: CrossEntropyArgs, slice: VocabSlice, merged: MergedStats): void {
  const { logits, n, v, target, probs, gradOut } = args;
  const { labelSmoothing: eps, classWeight: weight, softcap: s } = args.spec;
  const { v0, v1, col0, stride } = slice;
  const { lse, coef, scale } = merged;
  if (gradOut === null) return;
  const w = (j: number): number => (weight === null ? 1 : weight[j]!);

  for (let i = 0; i < n; i++) {
    const row = i * stride - col0; // logits[row + j] is class j of row i
    const y = target === null ? -1 : target[i]!;
    if (target !== null && y < 0) {
      gradOut.fill(0, row + v0, row + v1); // ignored token
      continue;
    }
    const l = lse[i] === Infinity ? NaN : lse[i]!; // a +Infinity row's softmax is inf − inf: NaN
    const a = coef[i]!;
    for (let j = v0; j < v1; j++) {
      const x = logits[row + j]!;
      const th = s > 0 ? Math.tanh(x / s) : 0;
      const c = s > 0 ? s * th : x;
      const p = Math.exp(c - l);
      let b: number;
      if (probs !== null) b = w(j) * ((1 - eps) * probs[row + j]! + eps / v);
      else b = (eps / v) * w(j) + (j === y ? (1 - eps) * w(y) : 0);
      let g = (a * p - b) * scale;
      if (s > 0) g *= 1 - th * th;
      gradOut[row + j] = g;
    }
  }
}
