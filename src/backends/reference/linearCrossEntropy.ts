/**
 * The reference fused linear cross-entropy: float64, one row at a time, written to be read.
 *
 * For each row i of hidden (N, D):
 *   logits_j = bias_j + Σ_k hidden[i][k]·weight[j][k]            (V) float64
 *   loss_i, lse_i, g = dL_i/dlogits                                by the reference crossEntropy
 *   (with every option of the spec: temperature, softcap, ..., and the row's argmax and entropy)
 *   g *= 1/D for the mean (D over the whole batch), unless the row is ignored
 *   dHidden[i][k] = Σ_j g_j·weight[j][k]
 *   dWeight[j][k] += g_j·hidden[i][k]
 *   dBias[j]      += g_j
 *
 * It holds one row of logits (V), never (N, V). The gradient filter is a speed option of the
 * fast kernels; the reference ignores it and always returns the exact gradient.
 */
import { gradScale, meanDenominator, reduceLoss, wantsArgmax } from "../common.js";
import type { LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import { crossEntropy } from "./crossEntropy.js";

export function linearCrossEntropy(args: LinearCrossEntropyArgs): LinearCrossEntropyResult {
  const { hidden, weight, bias, n, d, v, target, probs, spec, gradHidden, gradWeight, gradBias } = args;
  const denom = meanDenominator(target, spec, n);
  const scale = gradScale(spec.reduction, denom);
  const rowSpec = { ...spec, reduction: "sum" as const, denominator: null }; // the mean's 1/D is applied below, over the whole batch
  const grad = gradHidden !== null && gradWeight !== null;

  const logits = new Float64Array(v); // one row of logits
  const g = new Float64Array(v); // its gradient
  const rowLoss = new Float64Array(n);
  const lse = new Float64Array(n);
  const argmax = wantsArgmax(spec) ? new Int32Array(n) : undefined;
  const entropy = spec.entropy ? new Float64Array(n) : undefined;

  for (let i = 0; i < n; i++) {
    for (let j = 0; j < v; j++) {
      let x = bias === null ? 0 : bias[j]!;
      for (let k = 0; k < d; k++) x += hidden[i * d + k]! * weight[j * d + k]!;
      logits[j] = x;
    }
    const r = crossEntropy({
      logits,
      n: 1,
      v,
      target: target === null ? null : target.subarray(i, i + 1),
      probs: probs === null ? null : probs.subarray(i * v, (i + 1) * v),
      spec: rowSpec,
      gradOut: grad ? g : null,
    });
    rowLoss[i] = r.rowLoss[0]!;
    lse[i] = r.lse[0]!;
    if (argmax !== undefined) argmax[i] = r.argmax![0]!;
    if (entropy !== undefined) entropy[i] = r.entropy![0]!;
    if (!grad) continue;

    const ignored = target !== null && target[i]! < 0;
    if (!ignored) for (let j = 0; j < v; j++) g[j] = g[j]! * scale;
    for (let k = 0; k < d; k++) {
      let s = 0;
      for (let j = 0; j < v; j++) s += g[j]! * weight[j * d + k]!;
      gradHidden[i * d + k] = s;
    }
    for (let j = 0; j < v; j++) {
      for (let k = 0; k < d; k++) gradWeight[j * d + k] = gradWeight[j * d + k]! + g[j]! * hidden[i * d + k]!;
      if (gradBias !== null) gradBias[j] = gradBias[j]! + g[j]!;
    }
  }
  return { loss: reduceLoss(rowLoss, spec, denom), rowLoss, lse, argmax, entropy, scratchBytes: 2 * 8 * v + 3 * 8 * v + 16 };
}
