/**
 * The reference cross-entropy: float64, plain TypeScript, several clear passes per row.
 * It is written to be read and it is the oracle every fast kernel is tested against;
 * it is itself checked against PyTorch fixtures (scripts/make_fixtures.py).
 *
 * For row i with logits c = s·tanh(x/s)/τ (softcap s, temperature τ; c = x/τ without softcap),
 * p = softmax(c), lse = log Σ exp(c),
 * smoothing ε, class weights w (1 when absent), W = Σ_j w_j and z-loss z:
 *
 *   index target y:  L = (1-ε)·w_y·(lse - c_y) + (ε/V)·Σ_j w_j·(lse - c_j) + z·lse²
 *                    dL/dc_j = (1-ε)·w_y·(p_j - [j=y]) + (ε/V)·(W·p_j - w_j) + 2z·lse·p_j
 *   probabilities t: t' = (1-ε)·t + ε/V
 *                    L = -Σ_j w_j·t'_j·(c_j - lse) + z·lse²
 *                    dL/dc_j = (Σ_k w_k·t'_k)·p_j - w_j·t'_j + 2z·lse·p_j
 *
 * then dL/dx = dL/dc · (1/τ) · (1 - tanh²(x/s)) (the last factor under softcap), times 1/D for
 * the mean.
 * Terms whose coefficient is zero (ε = 0, z = 0) are skipped, as PyTorch skips them, so that
 * a -Infinity logit does not turn 0·∞ into NaN.
 *
 * Outputs beside the loss, per row: argmax_j c_j (the first index on ties, as torch.argmax) and
 * the entropy H = -Σ_j p_j·log p_j = lse - Σ_j p_j·c_j (terms with p_j = 0 skipped: 0·log 0 = 0).
 */
import { gradScale, meanDenominator, reduceLoss, wantsArgmax } from "../common.js";
import type { CrossEntropyArgs, CrossEntropyResult } from "../types.js";

export function crossEntropy(args: CrossEntropyArgs): CrossEntropyResult {
  const { logits, n, v, target, probs, gradOut } = args;
  const { reduction, classWeight: weight, labelSmoothing: eps, zLoss: z, softcap: s, temperature: tau } = args.spec;
  const d = meanDenominator(target, args.spec, n);
  const scale = gradScale(reduction, d);
  const w = (j: number): number => (weight === null ? 1 : weight[j]!);
  let wSum = 0;
  for (let j = 0; j < v; j++) wSum += w(j);

  const rowLoss = new Float64Array(n);
  const lseOut = new Float64Array(n);
  const argmax = wantsArgmax(args.spec) ? new Int32Array(n) : undefined;
  const entropy = args.spec.entropy ? new Float64Array(n) : undefined;
  const c = new Float64Array(v); // the logits the softmax sees, of one row
  const p = new Float64Array(v); // softmax of one row
  const g = new Float64Array(v); // gradient of one row w.r.t. c

  for (let i = 0; i < n; i++) {
    const row = i * v;
    // 1. capped logits, at temperature τ
    for (let j = 0; j < v; j++) {
      const x = logits[row + j]!;
      c[j] = (s > 0 ? s * Math.tanh(x / s) : x) / tau;
    }
    // 2. log-sum-exp, shifted by the max (a row of -Infinity has lse = -Infinity)
    let m = -Infinity;
    for (let j = 0; j < v; j++) m = Math.max(m, c[j]!);
    let sum = 0;
    for (let j = 0; j < v; j++) sum += m === -Infinity ? 0 : Math.exp(c[j]! - m);
    // (NaN anywhere makes m, lse, p and so the loss and gradient NaN. +Infinity makes the sum
    // inf − inf = NaN, so the loss and gradient are NaN, while the reported lse is +Infinity.)
    const lse = m === -Infinity ? -Infinity : m + Math.log(sum);
    lseOut[i] = m === Infinity ? Infinity : lse;
    for (let j = 0; j < v; j++) p[j] = Math.exp(c[j]! - lse);
    if (argmax !== undefined) {
      let a = 0;
      for (let j = 1; j < v; j++) if (c[j]! > c[a]!) a = j;
      argmax[i] = a;
    }
    if (entropy !== undefined) {
      let h = lse;
      for (let j = 0; j < v; j++) if (p[j]! > 0) h -= p[j]! * c[j]!;
      entropy[i] = h;
    }

    // 3. the loss and its gradient w.r.t. c
    let loss = 0;
    if (target !== null) {
      const y = target[i]!;
      if (y < 0) {
        // ignored token
        rowLoss[i] = 0;
        if (gradOut !== null) gradOut.fill(0, row, row + v);
        continue;
      }
      const wy = w(y);
      loss = (1 - eps) * wy * (lse - c[y]!);
      for (let j = 0; j < v; j++) g[j] = (1 - eps) * wy * (p[j]! - (j === y ? 1 : 0));
      if (eps > 0) {
        let smooth = 0;
        for (let j = 0; j < v; j++) smooth += w(j) * (lse - c[j]!);
        loss += (eps / v) * smooth;
        for (let j = 0; j < v; j++) g[j]! += (eps / v) * (wSum * p[j]! - w(j));
      }
    } else {
      const t = probs!;
      let tw = 0; // Σ_k w_k·t'_k
      for (let j = 0; j < v; j++) {
        const tj = (1 - eps) * t[row + j]! + eps / v;
        loss -= w(j) * tj * (c[j]! - lse);
        tw += w(j) * tj;
      }
      for (let j = 0; j < v; j++) {
        const tj = (1 - eps) * t[row + j]! + eps / v;
        g[j] = tw * p[j]! - w(j) * tj;
      }
    }
    if (z > 0) {
      loss += z * lse * lse;
      for (let j = 0; j < v; j++) g[j]! += 2 * z * lse * p[j]!;
    }
    rowLoss[i] = loss;

    // 4. chain rule through the temperature and the cap, then the reduction's scale
    if (gradOut !== null) {
      for (let j = 0; j < v; j++) {
        let dx = (g[j]! * scale) / tau;
        if (s > 0) {
          const th = Math.tanh(logits[row + j]! / s);
          dx *= 1 - th * th;
        }
        gradOut[row + j] = dx;
      }
    }
  }
  return { loss: reduceLoss(rowLoss, args.spec, d), rowLoss, lse: lseOut, argmax, entropy };
}
