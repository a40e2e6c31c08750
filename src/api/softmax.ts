/**
 * softmax, logSoftmax and perplexity, built on the cross-entropy kernel: the kernel's per-row
 * log-sum-exp (of the capped logits) gives log p = c - lse in one more pass.
 */
import type { FloatArray } from "../backends/types.js";
import { getBackend } from "../backends/registry.js";
import { crossEntropy, prepareCrossEntropy } from "./crossEntropy.js";
import type { CrossEntropyOptions, LogitsInput, TargetInput } from "./options.js";
import { resolveLogits } from "./validate.js";

export interface SoftmaxOptions {
  /** V, required for flat logits. */
  classes?: number;
  /** s > 0: softmax of s·tanh(x/s). */
  softcap?: number;
  /** Backend name. Default "auto". */
  backend?: string;
}

function softmaxImpl(fn: string, logits: LogitsInput, options: SoftmaxOptions | undefined, log: boolean): FloatArray {
  const o = options ?? {};
  for (const key of Object.keys(o)) {
    if (key !== "classes" && key !== "softcap" && key !== "backend") {
      throw new TypeError(`${fn}: unknown option "${key}"; expected one of classes, softcap, backend`);
    }
  }
  const flat = resolveLogits(fn, logits, o.classes);
  // Every row's target is the ignored sentinel: the kernel then computes only lse (in float64).
  const { args, backend } = prepareCrossEntropy(fn, flat.data, new Int32Array(flat.n).fill(-1), {
    classes: flat.v,
    ignoreIndex: -1,
    reduction: "sum",
    ...(o.softcap !== undefined ? { softcap: o.softcap } : {}),
    ...(o.backend !== undefined ? { backend: o.backend } : {}),
  });
  const { lse } = getBackend(backend).crossEntropy(args);
  const x = flat.data;
  const out = x instanceof Float32Array ? new Float32Array(x.length) : new Float64Array(x.length);
  const s = o.softcap ?? 0;
  for (let i = 0; i < flat.n; i++) {
    const l = lse[i]!;
    for (let j = i * flat.v; j < (i + 1) * flat.v; j++) {
      const c = s > 0 ? s * Math.tanh(x[j]! / s) : x[j]!;
      out[j] = log ? c - l : Math.exp(c - l);
    }
  }
  return out;
}

/** Row-wise softmax of (N, V) logits (of the capped logits under softcap). */
export function softmax(logits: LogitsInput, options?: SoftmaxOptions): FloatArray {
  return softmaxImpl("softmax", logits, options, false);
}

/** Row-wise log-softmax of (N, V) logits: x - logsumexp(x), computed stably. */
export function logSoftmax(logits: LogitsInput, options?: SoftmaxOptions): FloatArray {
  return softmaxImpl("logSoftmax", logits, options, true);
}

/** Perplexity: exp of the mean cross-entropy (nats) over the tokens that are not ignored. */
export function perplexity(logits: LogitsInput, target: TargetInput, options?: Omit<CrossEntropyOptions, "reduction" | "grad" | "inplace">): number {
  for (const key of ["reduction", "grad", "inplace"]) {
    if (options !== undefined && key in options) {
      throw new TypeError(`perplexity: option "${key}" does not apply; perplexity is exp of the mean loss`);
    }
  }
  const { loss } = crossEntropy(logits, target, { ...options, reduction: "mean" });
  return Math.exp(loss as number);
}

