/**
 * The slice backward, fast plain TypeScript: writes dL/dx for the classes [v0, v1) of each row
 * from the merged statistics (../common.ts mergeStats), as the fused kernel's pass 3 does:
 *
 *   g_j = scale·(A·exp(c_j − M)/S − B_j)·(1 − (c_j/s)²)
 *   index: B_j = (ε/V)·w_j + (1-ε)·w_y·[j=y]      probs: B_j = w_j·((1-ε)·t_j + ε/V)
 *
 * with M, S, A the merged max, sum of exps and coefficient (reference/sliceBackward.ts for the
 * plain form). Ignored rows get zeros. Each element is read before it is written, and c_y before
 * the row's loop, so gradOut may be the logits (inplace).
 */
import type { CrossEntropyArgs, MergedStats, VocabSlice } from "../types.js";

export function sliceBackward(args: CrossEntropyArgs, slice: VocabSlice, merged: MergedStats): void {
  const { logits, n, v, target, probs, gradOut } = args;
  const { labelSmoothing: eps, classWeight: weight, softcap: s } = args.spec;
  const { v0, v1, col0, stride } = slice;
  const { max, sumExp, coef, scale } = merged;
  if (gradOut === null) return;

  for (let i = 0; i < n; i++) {
    const row = i * stride - col0; // logits[row + j] is class j of row i
    const y = target === null ? -1 : target[i]!;
    if (target !== null && y < 0) {
      gradOut.fill(0, row + v0, row + v1); // ignored token
      continue;
    }
    const m = max[i]!;
    const k = (scale * coef[i]!) / sumExp[i]!;
    const kb = probs === null ? (scale * eps) / v : scale * (1 - eps);
    const kc = probs === null ? 0 : (scale * eps) / v;
    const hasB = probs !== null || eps > 0;
    // The target's column, read before the loop may overwrite it (inplace).
    const yIn = y >= v0 && y < v1;
    const xy = yIn ? logits[row + y]! : 0;
    for (let j = v0; j < v1; j++) {
      let c = logits[row + j]!;
      if (s > 0) c = s * Math.tanh(c / s);
      let g = k * Math.exp(c - m);
      if (hasB) {
        const w = weight === null ? 1 : weight[j]!;
        g -= probs !== null ? (kb * probs[row + j]! + kc) * w : kb * w;
      }
      if (s > 0) {
        const t = c / s;
        g *= 1 - t * t;
      }
      gradOut[row + j] = g;
    }
    if (yIn) {
      // The one-hot term: recompute the target's entry from its saved logit.
      const cy = s > 0 ? s * Math.tanh(xy / s) : xy;
      const wy = weight === null ? 1 : weight[y]!;
      let gy = k * Math.exp(cy - m) - (eps > 0 ? kb * wy : 0) - scale * (1 - eps) * wy;
      if (s > 0) {
        const t = cy / s;
        gy *= 1 - t * t;
      }
      gradOut[row + y] = gy;
    }
  }
}
