/**
 * The reference distillation losses: float64, plain TypeScript, several clear passes per row.
 * It is the oracle the fast kernels are tested against, and is itself checked against PyTorch
 * (scripts/make_fixtures_lm.py).
 *
 * For row i, with temperature T, the student's logits s and the teacher's t:
 *   c = s/T, u = t/T, log Q_j = c_j - lse(c), log P_j = u_j - lse(u)
 *   "kl":          D = KL(P‖Q) = Σ_j P_j·(log P_j - log Q_j)
 *                  dD/dc_j = Q_j - P_j
 *   "reverse-kl":  D = KL(Q‖P) = Σ_j Q_j·(log Q_j - log P_j)
 *                  dD/dc_j = Q_j·(log Q_j - log P_j - D)
 *   "jsd", β:      M = β·P + (1-β)·Q
 *                  D = β·KL(P‖M) + (1-β)·KL(Q‖M)
 *                  dD/dc_j = (1-β)·Q_j·(log Q_j - log M_j - KL(Q‖M))
 *                  (β = 0 is "kl" and β = 1 is "reverse-kl", see effectiveKind)
 * with 0·log 0 = 0 (a term whose weight P_j, Q_j is 0 is skipped, so a -Infinity logit in both
 * rows gives no NaN). The row's loss is L = T²·D, and d L / d s_j = T·dD/dc_j, times 1/K for
 * batchmean (K: the tokens not masked). A masked token has loss 0 and a zero gradient row.
 */
import { distillationCount, effectiveKind, reduceDistillation } from "../common.js";
import type { DistillationArgs, DistillationResult } from "../types.js";

/** log(e^a + e^b), -Infinity when both are. */
function logAddExp(a: number, b: number): number {
  const m = Math.max(a, b);
  if (m === -Infinity) return -Infinity;
  return m + Math.log1p(Math.exp(Math.min(a, b) - m));
}

/**
 * softmax of one row into `prob` and its log into `logProb`. The probabilities are
 * exp(x_j - max)/Σ, not exp(log p_j): with logits of 1e4, x_j - lse loses the low digits of
 * log Σ, and the largest probability would carry that error into every sum it weights.
 */
function softmax(x: Float64Array, prob: Float64Array, logProb: Float64Array): void {
  let m = -Infinity;
  for (let j = 0; j < x.length; j++) m = Math.max(m, x[j]!);
  let sum = 0;
  for (let j = 0; j < x.length; j++) sum += Math.exp(x[j]! - m);
  const lse = m + Math.log(sum);
  for (let j = 0; j < x.length; j++) {
    prob[j] = Math.exp(x[j]! - m) / sum;
    logProb[j] = x[j]! - lse;
  }
}

export function distillation(args: DistillationArgs): DistillationResult {
  const { student, teacher, n, v, target, spec, gradOut } = args;
  const T = spec.temperature;
  const beta = spec.beta;
  const kind = effectiveKind(spec);
  const count = distillationCount(target, n);
  const scale = spec.reduction === "batchmean" ? 1 / count : 1;

  const rowLoss = new Float64Array(n);
  const c = new Float64Array(v);
  const u = new Float64Array(v);
  const q = new Float64Array(v);
  const p = new Float64Array(v);
  const logQ = new Float64Array(v);
  const logP = new Float64Array(v);
  const logM = new Float64Array(v);
  const g = new Float64Array(v); // dD/dc of one row

  for (let i = 0; i < n; i++) {
    const row = i * v;
    if (target !== null && target[i]! < 0) {
      // a masked token
      if (gradOut !== null) gradOut.fill(0, row, row + v);
      continue;
    }
    // 1. both distributions at temperature T, in log space
    for (let j = 0; j < v; j++) {
      c[j] = student[row + j]! / T;
      u[j] = teacher[row + j]! / T;
    }
    softmax(c, q, logQ);
    softmax(u, p, logP);
    const Q = (j: number): number => q[j]!;
    const P = (j: number): number => p[j]!;

    // 2. the divergence and its gradient w.r.t. c
    let d = 0;
    if (kind === "kl") {
      for (let j = 0; j < v; j++) {
        if (P(j) > 0) d += P(j) * (logP[j]! - logQ[j]!);
        g[j] = Q(j) - P(j);
      }
    } else if (kind === "reverse-kl") {
      for (let j = 0; j < v; j++) if (Q(j) > 0) d += Q(j) * (logQ[j]! - logP[j]!);
      for (let j = 0; j < v; j++) g[j] = Q(j) > 0 ? Q(j) * (logQ[j]! - logP[j]! - d) : 0;
    } else {
      let klP = 0; // KL(P‖M)
      let klQ = 0; // KL(Q‖M)
      for (let j = 0; j < v; j++) {
        logM[j] = logAddExp(Math.log(beta) + logP[j]!, Math.log1p(-beta) + logQ[j]!);
        if (P(j) > 0) klP += P(j) * (logP[j]! - logM[j]!);
        if (Q(j) > 0) klQ += Q(j) * (logQ[j]! - logM[j]!);
      }
      d = beta * klP + (1 - beta) * klQ;
      for (let j = 0; j < v; j++) g[j] = Q(j) > 0 ? (1 - beta) * Q(j) * (logQ[j]! - logM[j]! - klQ) : 0;
    }
    rowLoss[i] = T * T * d;

    // 3. the chain rule through c = s/T and the loss's T², then the reduction's scale
    if (gradOut !== null) {
      for (let j = 0; j < v; j++) gradOut[row + j] = scale * T * g[j]!;
    }
  }
  return { loss: reduceDistillation(rowLoss, spec.reduction, count), rowLoss };
}
