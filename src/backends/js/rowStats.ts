/**
 * Slice statistics, fast plain TypeScript (float32 or float64 storage, float64 arithmetic):
 * per row, over the classes [v0, v1), the max of the capped logits c, Σ exp(c − max), the
 * target's c_y and the linear terms (definitions in reference/rowStats.ts; merged by
 * ../common.ts mergeStats). Two reads of the slice: the max and the linear terms, then the sum.
 * Under softcap the capped slice is kept in one float64 scratch row (its width), never N×width.
 */
import type { CrossEntropyArgs, SliceStats, VocabSlice } from "../types.js";

export function rowStats(args: CrossEntropyArgs, slice: VocabSlice, out: SliceStats): void {
  const { logits, n, v, target, probs } = args;
  const { labelSmoothing: eps, classWeight: weight, softcap: s } = args.spec;
  const { v0, v1, col0, stride } = slice;
  const capped = s > 0 ? new Float64Array(v1 - v0) : null;

  for (let i = 0; i < n; i++) {
    const row = i * stride - col0; // logits[row + j] is class j of row i
    const y = target === null ? -1 : target[i]!;
    const linear = probs !== null || (eps > 0 && y >= 0);
    // Pass 1: max (a NaN sticks) and the linear terms.
    let m = -Infinity;
    let wc = 0; // Σ w_j·c_j or Σ w_j·t'_j·c_j
    let wt = 0; // Σ w_j·t'_j
    for (let j = v0; j < v1; j++) {
      let c = logits[row + j]!;
      if (capped !== null) {
        c = s * Math.tanh(c / s);
        capped[j - v0] = c;
      }
      if (c > m || c !== c) m = m !== m ? m : c;
      if (linear) {
        let tw = weight === null ? 1 : weight[j]!;
        if (probs !== null) {
          tw *= (1 - eps) * probs[row + j]! + eps / v;
          wt += tw;
        }
        wc += tw * c;
      }
    }
    // Pass 2: Σ exp(c_j − m) in float64.
    let sum = 0;
    if (m !== -Infinity) {
      if (capped !== null) for (let j = 0; j < v1 - v0; j++) sum += Math.exp(capped[j]! - m);
      else for (let j = v0; j < v1; j++) sum += Math.exp(logits[row + j]! - m);
    }
    out.max[i] = m;
    out.sumExp[i] = sum;
    out.targetLogit[i] = y >= v0 && y < v1 ? (capped !== null ? capped[y - v0]! : logits[row + y]!) : 0;
    out.weightedSum[i] = wc;
    out.targetWeight[i] = wt;
  }
}
