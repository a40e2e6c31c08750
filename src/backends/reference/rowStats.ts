/**
 * The reference slice statistics: float64, plain TypeScript, one clear pass per quantity.
 * For each row i and the classes j in the slice [v0, v1), with capped logits c = s·tanh(x/s)
 * (or c = x), smoothing ε, class weights w (1 when absent) and t' = (1-ε)·t + ε/V (the full V):
 *
 *   max          m = max_j c_j                 (−Infinity for an empty slice)
 *   sumExp       Σ_j exp(c_j − m)              (0 when m = −Infinity)
 *   targetLogit  c_y when v0 <= y < v1, else 0
 *   weightedSum  Σ_j w_j·c_j (index targets, ε > 0, row not ignored) or Σ_j w_j·t'_j·c_j (probs)
 *   targetWeight Σ_j w_j·t'_j (probs)
 *
 * mergeStats (../common.ts) combines the slices into the full row's lse and loss; the fused
 * reference (crossEntropy.ts) is the one-slice case of the same formulas.
 */
import type { CrossEntropyArgs, SliceStats, VocabSlice } from "../types.js";

export function rowStats(args: CrossEntropyArgs, slice: VocabSlice, out: SliceStats): void {
  const { logits, n, v, target, probs } = args;
  const { labelSmoothing: eps, classWeight: weight, softcap: s } = args.spec;
  const { v0, v1, col0, stride } = slice;
  const w = (j: number): number => (weight === null ? 1 : weight[j]!);
  const c = new Float64Array(v1 - v0); // capped logits of the row's slice

  for (let i = 0; i < n; i++) {
    const row = i * stride - col0; // logits[row + j] is class j of row i
    for (let j = v0; j < v1; j++) {
      const x = logits[row + j]!;
      c[j - v0] = s > 0 ? s * Math.tanh(x / s) : x;
    }
    let m = -Infinity;
    for (let j = v0; j < v1; j++) m = Math.max(m, c[j - v0]!);
    let sum = 0;
    if (m !== -Infinity) for (let j = v0; j < v1; j++) sum += Math.exp(c[j - v0]! - m);
    const y = target === null ? -1 : target[i]!;
    let wc = 0;
    let wt = 0;
    if (probs !== null) {
      for (let j = v0; j < v1; j++) {
        const tj = (1 - eps) * probs[row + j]! + eps / v;
        wc += w(j) * tj * c[j - v0]!;
        wt += w(j) * tj;
      }
    } else if (eps > 0 && y >= 0) {
      for (let j = v0; j < v1; j++) wc += w(j) * c[j - v0]!;
    }
    out.max[i] = m;
    out.sumExp[i] = sum;
    out.targetLogit[i] = y >= v0 && y < v1 ? c[y - v0]! : 0;
    out.weightedSum[i] = wc;
    out.targetWeight[i] = wt;
  }
}
