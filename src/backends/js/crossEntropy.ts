/**
 * The fast plain-TypeScript kernel: every option in one kernel, float32 storage, float64
 * arithmetic and row sums. It is the fallback where WebAssembly SIMD is missing.
 *
 * Per row (N, V), with c = softcap(x)/τ the logits the softmax sees:
 * - without a gradient: one online pass computes the running max, the rescaled sum of
 *   exps and the terms of the loss that are linear in c (c_y, Σ w_j·c_j, Σ w_j·t'_j·c_j);
 * - with a gradient: a max pass (no exp) gathers the same linear terms; a second pass
 *   computes e_j = exp(c_j - max) once, stores it in the gradient buffer and sums it;
 *   a third pass turns e_j into the gradient in place: g_j = scale·(A·e_j/Σe - B_j).
 *
 * The same sweeps give the outputs beside the loss: the argmax (the first index of the max) and
 * Σ_j e_j·(c_j - max) (rescaled with the sum in the online pass), so that the entropy is
 * H = lse - Σ_j p_j·c_j = log Σe - Σ_j e_j·(c_j - max)/Σe.
 *
 * The loss is assembled from those sums, with lse = max + log Σe:
 *   index:  L = (1-ε)·w_y·(lse - c_y) + (ε/V)·(W·lse - Σ_j w_j·c_j) + z·lse²
 *   probs:  L = lse·Σ_j w_j·t'_j - Σ_j w_j·t'_j·c_j + z·lse²
 * and the gradient's coefficients are
 *   index:  A = (1-ε)·w_y + (ε/V)·W + 2z·lse,   B_j = (ε/V)·w_j + (1-ε)·w_y·[j=y]
 *   probs:  A = Σ_k w_k·t'_k + 2z·lse,          B_j = w_j·t'_j
 * (see reference/crossEntropy.ts for the derivation's plain form).
 *
 * Under softcap or a temperature the row c is kept in one float64 scratch row (V), never N×V,
 * so that tanh is computed once per element and the chain-rule factor (1/τ)·(1 - (τc/s)²)
 * needs no logits (which `inplace` has overwritten by then); the 1/τ is folded into `scale`.
 */
import { classWeightSum, gradScale, meanDenominator, reduceLoss, wantsArgmax } from "../common.js";
import type { CrossEntropyArgs, CrossEntropyResult } from "../types.js";

export function crossEntropy(args: CrossEntropyArgs): CrossEntropyResult {
  const { logits, n, v, target, probs, gradOut, spec } = args;
  const { reduction, classWeight: weight, labelSmoothing: eps, zLoss: z, softcap: s, temperature: tau } = spec;
  const d = meanDenominator(target, spec, n);
  const scale = gradScale(reduction, d) / tau;
  const wSum = classWeightSum(spec, v);
  const capped = s > 0 || tau !== 1 ? new Float64Array(v) : null;
  const rowLoss = new Float64Array(n);
  const lseOut = new Float64Array(n);
  const argmax = wantsArgmax(spec) ? new Int32Array(n) : undefined;
  const entropy = spec.entropy ? new Float64Array(n) : undefined;
  const ent = entropy !== undefined;

  for (let i = 0; i < n; i++) {
    const row = i * v;
    const ignored = target !== null && target[i]! < 0;
    const y = target === null || ignored ? -1 : target[i]!;

    // Pass 1: max and the linear terms; without a gradient, also the online sum of exps.
    let m = -Infinity;
    let sum = 0;
    let wc = 0; // Σ_j w_j·c_j (index targets with smoothing) or Σ_j w_j·t'_j·c_j (probs)
    let wt = 0; // Σ_j w_j·t'_j (probs)
    let am = 0; // the first index of the max
    let ec = 0; // Σ_j e_j·(c_j - m), for the entropy log Σe - ec/Σe (terms with e_j = 0 skipped)
    const online = gradOut === null || ignored;
    for (let j = 0; j < v; j++) {
      let c = logits[row + j]!;
      if (capped !== null) {
        c = (s > 0 ? s * Math.tanh(c / s) : c) / tau;
        capped[j] = c;
      }
      if (online) {
        if (c > m) {
          const r = Math.exp(m - c);
          if (ent) ec = m === -Infinity ? 0 : (ec + sum * (m - c)) * r;
          sum = sum * r + 1;
          m = c;
          am = j;
        } else if (m !== -Infinity) {
          const e = Math.exp(c - m);
          sum += e;
          if (ent && e > 0) ec += e * (c - m);
        } else if (c !== c) {
          m = NaN; // a NaN before any finite logit: the row is NaN (c > NaN is never true)
        }
      } else if (c > m) {
        m = c;
        am = j;
      }
      if (probs !== null) {
        const tw = ((1 - eps) * probs[row + j]! + eps / v) * (weight === null ? 1 : weight[j]!);
        wt += tw;
        wc += tw * c;
      } else if (eps > 0 && !ignored) {
        wc += (weight === null ? 1 : weight[j]!) * c;
      }
    }

    // A max of ±Infinity may hide a NaN the comparisons skipped (rare: checked only then).
    if ((m === Infinity || m === -Infinity) && holdsNaN(capped ?? logits, capped !== null ? 0 : row, v)) m = NaN;

    // c_y, read before pass 2 may overwrite the logits (inplace).
    const cy = y >= 0 ? (capped !== null ? capped[y]! : logits[row + y]!) : 0;
    const wy = y >= 0 && weight !== null ? weight[y]! : 1;

    // Pass 2 (gradient only): e_j = exp(c_j - m), stored where the gradient goes, and summed.
    // (A row of -Infinity gives NaN here, as softmax of that row is undefined.)
    if (!online) {
      for (let j = 0; j < v; j++) {
        const c = capped !== null ? capped[j]! : logits[row + j]!;
        const e = Math.exp(c - m);
        gradOut[row + j] = e;
        sum += e;
        if (ent && e > 0) ec += e * (c - m);
      }
    }
    // NaN anywhere: lse, loss and gradient are NaN. +Infinity: lse is +Infinity, but the softmax
    // is inf − inf, so the loss and gradient are NaN (as in PyTorch).
    const lse = m === -Infinity ? -Infinity : m === Infinity ? NaN : m + Math.log(sum);
    lseOut[i] = m === Infinity ? Infinity : lse;
    if (argmax !== undefined) argmax[i] = am;
    if (entropy !== undefined) entropy[i] = Math.log(sum) - ec / sum;
    if (ignored) {
      // An ignored token: lse is still reported, the loss and the gradient row are zero.
      if (gradOut !== null) gradOut.fill(0, row, row + v);
      continue;
    }

    // The loss from the sums.
    let loss: number;
    let a: number; // coefficient of p_j in the gradient
    if (probs === null) {
      loss = (1 - eps) * wy * (lse - cy);
      a = (1 - eps) * wy;
      if (eps > 0) {
        loss += (eps / v) * (wSum * lse - wc);
        a += (eps / v) * wSum;
      }
    } else {
      loss = lse * wt - wc;
      a = wt;
    }
    if (z > 0) {
      loss += z * lse * lse;
      a += 2 * z * lse;
    }
    rowLoss[i] = loss;

    // Pass 3 (gradient only): g_j = scale·(A·e_j/Σe - B_j)·(1 - (τc_j/s)²), in place.
    if (gradOut !== null) {
      const k = (scale * a) / sum;
      const kb = probs === null ? (scale * eps) / v : scale * (1 - eps);
      const kc = probs === null ? 0 : (scale * eps) / v;
      for (let j = 0; j < v; j++) {
        let g = k * gradOut[row + j]!;
        if (probs !== null) {
          g -= (kb * probs[row + j]! + kc) * (weight === null ? 1 : weight[j]!);
        } else if (eps > 0) {
          g -= kb * (weight === null ? 1 : weight[j]!);
        }
        if (s > 0) {
          const t = (capped![j]! * tau) / s;
          g *= 1 - t * t;
        }
        gradOut[row + j] = g;
      }
      if (probs === null) {
        let gy = k * Math.exp(cy - m);
        if (eps > 0) gy -= kb * wy;
        gy -= scale * (1 - eps) * wy;
        if (s > 0) {
          const t = (capped![y]! * tau) / s;
          gy *= 1 - t * t;
        }
        gradOut[row + y] = gy;
      }
    }
  }
  return { loss: reduceLoss(rowLoss, spec, d), rowLoss, lse: lseOut, argmax, entropy };
}

/** True when x[from, from + len) holds a NaN. */
function holdsNaN(x: ArrayLike<number>, from: number, len: number): boolean {
  for (let j = from; j < from + len; j++) if (Number.isNaN(x[j])) return true;
  return false;
}
