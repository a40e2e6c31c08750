/**
 * softmax, logSoftmax and perplexity, built on the cross-entropy kernel: the kernel's per-row
 * log-sum-exp (of the capped logits) gives log p = c - lse in one more pass.
 */
import type { FloatArray } from "../backends/types.js";
import { runCrossEntropy } from "./crossEntropy.js";
import type { BackendName, CrossEntropyOptions, FloatOutput, LogitsInput, TargetInput } from "./options.js";
import { resolveCrossEntropy } from "./resolve.js";

export interface SoftmaxOptions {
  /** V, required for flat logits. */
  classes?: number;
  /** s > 0: softmax of s·tanh(x/s). */
  softcap?: number;
  /** Backend name. Default "auto". */
  backend?: BackendName;
}

function softmaxImpl(fn: string, logits: LogitsInput, options: SoftmaxOptions | undefined, log: boolean): FloatArray {
  // Every row's target is ignored: the kernel then computes only lse (in float64).
  const r = resolveCrossEntropy(fn, "softmax", logits, null, options);
  const { result } = runCrossEntropy(fn, r);
  const lse = result.lse;
  const x = r.logits;
  const out = x instanceof Float32Array ? new Float32Array(x.length) : new Float64Array(x.length);
  const s = r.spec.softcap;
  for (let i = 0; i < r.n; i++) {
    // A row holding +Infinity has lse +Infinity and softmax inf − inf: all NaN, as in PyTorch.
    const l = lse[i] === Infinity ? NaN : lse[i]!;
    for (let j = i * r.v; j < (i + 1) * r.v; j++) {
      const c = s > 0 ? s * Math.tanh(x[j]! / s) : x[j]!;
      out[j] = log ? c - l : Math.exp(c - l);
    }
  }
  return out;
}

/** Row-wise softmax of (N, V) logits (of the capped logits under softcap): a Float32Array for float32 logits, else a Float64Array. */
export function softmax<X extends LogitsInput>(logits: X, options?: SoftmaxOptions): FloatOutput<X>;
export function softmax(logits: LogitsInput, options?: SoftmaxOptions): FloatArray {
  return softmaxImpl("softmax", logits, options, false);
}

/** Row-wise log-softmax of (N, V) logits: x - logsumexp(x), computed stably (the element type as softmax's). */
export function logSoftmax<X extends LogitsInput>(logits: X, options?: SoftmaxOptions): FloatOutput<X>;
export function logSoftmax(logits: LogitsInput, options?: SoftmaxOptions): FloatArray {
  return softmaxImpl("logSoftmax", logits, options, true);
}

/** Perplexity: exp of the mean cross-entropy (nats) over the tokens that are not ignored. */
export function perplexity(logits: LogitsInput, target: TargetInput, options?: Omit<CrossEntropyOptions, "reduction" | "grad" | "inplace">): number {
  const fn = "perplexity";
  const { result } = runCrossEntropy(fn, resolveCrossEntropy(fn, "perplexity", logits, target, options));
  return Math.exp(result.loss);
}
