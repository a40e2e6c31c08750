/**
 * The fast plain-TypeScript distillation kernel: KL, reverse KL and the generalized JSD in one
 * kernel, float32 (or float64) storage, float64 arithmetic and row sums. Each row is finished
 * (loss and gradient) while it is in cache, in three sweeps (four for the JSD with a gradient):
 *
 * 1. the maxes of c = s/T and u = t/T (no exp);
 * 2. e_j = exp(c_j - max c), kept in one float64 scratch row (V), and exp(u_j - max u), summed,
 *    with the linear term of the KL: Σ_j exp(u_j - max u)·(u_j - c_j) for "kl",
 *    Σ_j e_j·(c_j - u_j) for "reverse-kl". Then lse(c), lse(u), and
 *      "kl":          D = E_P[u - c] + lse(c) - lse(u)
 *      "reverse-kl":  D = E_Q[c - u] - lse(c) + lse(u)
 * 3. "kl":          g_j = Q_j - P_j
 *    "reverse-kl":  g_j = Q_j·((c_j - u_j) - E_Q[c - u])      (= Q_j·(log Q_j - log P_j - D))
 *    "jsd":         M_j = β·P_j + (1-β)·Q_j, one log per element for the two KL(·‖M) sums, and
 *                   r_j = Q_j·(log Q_j - log M_j) kept in the scratch row;
 * 4. "jsd" only:    g_j = (1-β)·(r_j - KL(Q‖M)·Q_j), Q_j recomputed from the student's logit.
 * The gradient written is k·g_j with k = T (the T² of the loss times the 1/T of c = s/T), times
 * 1/K for batchmean. The student's row is read before its gradient is written (inplace allowed):
 * sweeps 1-3 only read it, and each element is read before the last sweep writes it.
 * Terms whose weight P_j or Q_j is 0 are skipped (0·log 0 = 0), so -Infinity logits give no NaN.
 * See reference/distillation.ts for the formulas in their plain form.
 */
import { distillationCount, effectiveKind, reduceDistillation } from "../common.js";
import type { DistillationArgs, DistillationResult } from "../types.js";

export function distillation(args: DistillationArgs): DistillationResult {
  const { student, teacher, n, v, target, spec, gradOut } = args;
  const T = spec.temperature;
  const beta = spec.beta;
  const kind = effectiveKind(spec);
  const count = distillationCount(target, n);
  const k = (spec.reduction === "batchmean" ? 1 / count : 1) * T;
  const e = new Float64Array(v); // e_j = exp(c_j - max c), then r_j for the JSD
  const rowLoss = new Float64Array(n);

  for (let i = 0; i < n; i++) {
    const row = i * v;
    if (target !== null && target[i]! < 0) {
      if (gradOut !== null) gradOut.fill(0, row, row + v);
      continue;
    }

    // Sweep 1: the maxes.
    let ms = -Infinity;
    let mt = -Infinity;
    for (let j = 0; j < v; j++) {
      const c = student[row + j]! / T;
      const u = teacher[row + j]! / T;
      if (c > ms) ms = c;
      if (u > mt) mt = u;
    }

    // Sweep 2: the sums of exps and the linear term of the KL.
    let ss = 0;
    let st = 0;
    let lin = 0;
    for (let j = 0; j < v; j++) {
      const c = student[row + j]! / T;
      const u = teacher[row + j]! / T;
      const es = Math.exp(c - ms);
      const et = Math.exp(u - mt);
      e[j] = es;
      ss += es;
      st += et;
      if (kind === "kl") {
        if (et > 0) lin += et * (u - c);
      } else if (kind === "reverse-kl") {
        if (es > 0) lin += es * (c - u);
      }
    }
    const lseS = ms + Math.log(ss);
    const lseT = mt + Math.log(st);

    if (kind === "kl") {
      rowLoss[i] = T * T * (lin / st + lseS - lseT);
      if (gradOut !== null) {
        const invS = 1 / ss;
        for (let j = 0; j < v; j++) {
          const p = Math.exp(teacher[row + j]! / T - lseT);
          gradOut[row + j] = k * (e[j]! * invS - p);
        }
      }
      continue;
    }
    if (kind === "reverse-kl") {
      const eq = lin / ss; // E_Q[c - u]
      rowLoss[i] = T * T * (eq - lseS + lseT);
      if (gradOut !== null) {
        const invS = 1 / ss;
        for (let j = 0; j < v; j++) {
          const q = e[j]! * invS;
          const c = student[row + j]! / T;
          const u = teacher[row + j]! / T;
          gradOut[row + j] = q > 0 ? k * q * (c - u - eq) : 0;
        }
      }
      continue;
    }

    // Sweep 3 (JSD): the two KL(·‖M) sums; r_j replaces e_j in the scratch row.
    const invS = 1 / ss;
    let klP = 0;
    let klQ = 0;
    for (let j = 0; j < v; j++) {
      const q = e[j]! * invS;
      const lp = teacher[row + j]! / T - lseT;
      const p = Math.exp(lp);
      const m = beta * p + (1 - beta) * q;
      let r = 0;
      if (m > 0) {
        const lm = Math.log(m);
        if (p > 0) klP += p * (lp - lm);
        if (q > 0) r = q * (student[row + j]! / T - lseS - lm);
      }
      klQ += r;
      e[j] = r;
    }
    rowLoss[i] = T * T * (beta * klP + (1 - beta) * klQ);

    // Sweep 4 (JSD, gradient): g_j = (1-β)·(r_j - KL(Q‖M)·Q_j).
    if (gradOut !== null) {
      const kb = k * (1 - beta);
      for (let j = 0; j < v; j++) {
        const q = Math.exp(student[row + j]! / T - lseS);
        gradOut[row + j] = kb * (e[j]! - klQ * q);
      }
    }
  }
  return { loss: reduceDistillation(rowLoss, spec.reduction, count), rowLoss };
}
