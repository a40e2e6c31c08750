/**
 * Small pieces every backend shares: the mean's denominator and the batch reduction.
 * Both are O(N) and independent of how rows are split across threads, so results do not
 * depend on the thread count.
 */
import type { CrossEntropyArgs, Reduction } from "./types.js";

/**
 * D, the divisor of the "mean" reduction, as PyTorch defines it:
 * index targets: Σ w[y_i] over tokens that are not ignored (the count when unweighted);
 * probability targets: N.
 */
export function meanDenominator(args: CrossEntropyArgs): number {
  const { target, weight, n } = args;
  if (target === null) return n;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const y = target[i]!;
    if (y < 0) continue; // ignored
    d += weight === null ? 1 : weight[y]!;
  }
  return d;
}

/** The factor the gradient rows carry: 1/D for mean (Infinity when D = 0, as in PyTorch), else 1. */
export function gradScale(reduction: Reduction, d: number): number {
  return reduction === "mean" ? 1 / d : 1;
}

/** Reduce per-row losses in a fixed order, in float64. */
export function reduceLoss(rowLoss: Float64Array, reduction: Reduction, d: number): number {
  if (reduction === "none") return Number.NaN; // unused: the api returns rowLoss itself
  let s = 0;
  for (let i = 0; i < rowLoss.length; i++) s += rowLoss[i]!;
  return reduction === "mean" ? s / d : s;
}
