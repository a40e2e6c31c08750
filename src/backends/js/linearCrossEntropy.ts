/**
 * Fused linear cross-entropy for the js backend: the LM head and the loss, chunk by chunk, never
 * holding the (N, V) logits (Liger's scheme).
 *
 * For each chunk of R = chunkRows rows (the last one may be shorter):
 *   1. logits (R, V) = hidden[rows] (R, D) · weightᵀ (+ bias), into one reused scratch buffer;
 *   2. the js crossEntropy kernel on that chunk, with reduction "sum" and its gradient written
 *      in place over the logits: per-row loss, lse, argmax and entropy (when the spec asks) and
 *      dL/dlogits (R, V) with every option (temperature and softcap included);
 *   3. the mean's 1/D, with the global D (never the chunk's), on the rows that are not ignored;
 *   4. gradBias += column sums; then, per vocabulary block of BLOCK columns:
 *        dHidden[rows] (R, D) += dL[:, block] · weight[block]      (float64 scratch, R×D)
 *        dWeight[block] (B, D) += dL[:, block]ᵀ · hidden[rows]
 *      with a block skipped in both products when gradFilter is on and every |dL| in it is
 *      below gradFilter·scale (Cut Cross-Entropy's tile filter).
 *
 * Why row chunks covering all of V rather than vocabulary chunks: the loss needs each row's lse
 * before any dL of that row exists, so vocabulary chunks need two sweeps (lse, then recompute
 * the logits for the gradient: 4 products instead of 3), while a row chunk holds whole rows and
 * needs one. Memory is bounded by R×V, set from the budget; the cost is that weight is read
 * twice and dWeight updated once per chunk, which a scalar kernel hides behind its arithmetic.
 *
 * Scratch: R×V logits (input type), R×D float64 for dHidden, V float64 for gradBias, and what
 * the crossEntropy kernel allocates per chunk (a V float64 row under softcap or a temperature,
 * 2R float64, and R int32 and R float64 for the argmax and entropy when asked).
 * Results do not depend on R for the loss and lse; gradients change only by float32 rounding.
 */
import { gradScale, meanDenominator, reduceLoss, wantsArgmax } from "../common.js";
import type { LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import { crossEntropy } from "./crossEntropy.js";
import { matmul } from "./matmul.js";

/** Vocabulary columns per gradient block (the gradient filter's tile width and dHidden's K block). */
export const BLOCK = 256;

export function linearCrossEntropy(args: LinearCrossEntropyArgs): LinearCrossEntropyResult {
  const { hidden, weight, bias, n, d, v, target, probs, spec, gradHidden, gradWeight, gradBias } = args;
  const { reduction } = spec;
  const grad = gradHidden !== null && gradWeight !== null;
  const rMax = Math.max(1, Math.min(n, args.chunkRows));
  const f32 = hidden instanceof Float32Array;

  // The global mean denominator, from the targets and class weights only (no logits needed).
  const denom = meanDenominator(target, spec, n);
  const scale = gradScale(reduction, denom);
  const threshold = args.gradFilter * (Number.isFinite(scale) ? scale : 1);

  const chunk = f32 ? new Float32Array(rMax * v) : new Float64Array(rMax * v); // (R, V)
  const dH = grad ? new Float64Array(rMax * d) : null; // (R, D)
  const dB = grad && gradBias !== null ? new Float64Array(v) : null; // (V)
  const scratchBytes =
    chunk.byteLength + (dH?.byteLength ?? 0) + (dB?.byteLength ?? 0) + (spec.softcap > 0 || spec.temperature !== 1 ? 8 * v : 0) +
    (16 + (wantsArgmax(spec) ? 4 : 0) + (spec.entropy ? 8 : 0)) * rMax;

  const rowLoss = new Float64Array(n);
  const lse = new Float64Array(n);
  const argmax = wantsArgmax(spec) ? new Int32Array(n) : undefined;
  const entropy = spec.entropy ? new Float64Array(n) : undefined;
  const chunkSpec = { ...spec, reduction: "sum" as const, denominator: null }; // the mean's 1/D is applied in step 3

  for (let r0 = 0; r0 < n; r0 += rMax) {
    const rows = Math.min(rMax, n - r0);
    const logits = rows === rMax ? chunk : chunk.subarray(0, rows * v);

    // 1. logits (rows, V) = hidden[r0 : r0+rows] (rows, D) · weightᵀ (D, V) + bias
    matmul(rows, v, d, { data: hidden, off: r0 * d, rs: d, cs: 1 }, { data: weight, off: 0, rs: 1, cs: d }, { data: logits, off: 0, rs: v }, false);
    if (bias !== null) {
      for (let i = 0; i < rows; i++) {
        const o = i * v;
        for (let j = 0; j < v; j++) logits[o + j] = logits[o + j]! + bias[j]!;
      }
    }

    // 2. loss, lse and dL/dlogits of the chunk, in place.
    const ce = crossEntropy({
      logits,
      n: rows,
      v,
      target: target === null ? null : target.subarray(r0, r0 + rows),
      probs: probs === null ? null : probs.subarray(r0 * v, (r0 + rows) * v),
      spec: chunkSpec,
      gradOut: grad ? logits : null,
    });
    rowLoss.set(ce.rowLoss, r0);
    lse.set(ce.lse, r0);
    if (argmax !== undefined) argmax.set(ce.argmax!, r0);
    if (entropy !== undefined) entropy.set(ce.entropy!, r0);
    if (!grad) continue;

    // 3. the mean's 1/D on rows that count (ignored rows stay exactly zero, as in crossEntropy).
    if (scale !== 1) {
      for (let i = 0; i < rows; i++) {
        if (target !== null && target[r0 + i]! < 0) continue;
        const o = i * v;
        for (let j = 0; j < v; j++) logits[o + j] = logits[o + j]! * scale;
      }
    }

    // 4. gradients: bias, then hidden and weight per vocabulary block.
    if (dB !== null) {
      for (let i = 0; i < rows; i++) {
        const o = i * v;
        for (let j = 0; j < v; j++) dB[j]! += logits[o + j]!;
      }
    }
    dH!.fill(0, 0, rows * d);
    for (let j0 = 0; j0 < v; j0 += BLOCK) {
      const nb = Math.min(BLOCK, v - j0);
      if (threshold > 0 && belowThreshold(logits, rows, v, j0, nb, threshold)) continue;
      // dHidden[rows] (rows, D) += dL[:, j0:j0+nb] (rows, nb) · weight[j0:j0+nb] (nb, D)
      matmul(rows, d, nb, { data: logits, off: j0, rs: v, cs: 1 }, { data: weight, off: j0 * d, rs: d, cs: 1 }, { data: dH!, off: 0, rs: d }, true);
      // dWeight[j0:j0+nb] (nb, D) += dL[:, j0:j0+nb]ᵀ (nb, rows) · hidden[rows] (rows, D)
      matmul(nb, d, rows, { data: logits, off: j0, rs: 1, cs: v }, { data: hidden, off: r0 * d, rs: d, cs: 1 }, { data: gradWeight, off: j0 * d, rs: d }, true);
    }
    gradHidden.set(dH!.subarray(0, rows * d), r0 * d);
  }
  if (dB !== null) gradBias!.set(dB);
  return { loss: reduceLoss(rowLoss, spec, denom), rowLoss, lse, argmax, entropy, scratchBytes };
}

/** True when every |dL| of the tile (rows, nb) at column j0 is below the threshold (NaN never is). */
function belowThreshold(dl: ArrayLike<number>, rows: number, v: number, j0: number, nb: number, threshold: number): boolean {
  for (let i = 0; i < rows; i++) {
    const o = i * v + j0;
    for (let j = 0; j < nb; j++) {
      if (!(Math.abs(dl[o + j]!) < threshold)) return false;
    }
  }
  return true;
}
