/**
 * crossEntropy: resolve once, let the registry pick a backend, run one kernel, shape the result.
 * Semantics follow torch.nn.functional.cross_entropy; see README.
 */
import { lmOnly, lmOutputs } from "../backends/common.js";
import { backendFor } from "../backends/registry.js";
import type { CallShape, CrossEntropyArgs, CrossEntropyResult, FloatArray, LossSpec } from "../backends/types.js";
import type { CrossEntropyOptions, CrossEntropyOutput, CrossEntropyOutputOf, FloatOutput, LmOutputFields, LogitsInput, Reduction, TargetInput } from "./options.js";
import { resolveCrossEntropy, type ResolvedCrossEntropy } from "./resolve.js";

/** What the registry is asked about a crossEntropy call. */
export function crossEntropyShape(r: Pick<ResolvedCrossEntropy, "logits" | "n" | "v" | "grad" | "spec">): CallShape {
  return { kernel: "crossEntropy", dtype: r.logits instanceof Float32Array ? "float32" : "float64", n: r.n, v: r.v, d: 0, grad: r.grad, lmOutputs: lmOnly(r.spec) };
}

/**
 * Set on `out` the LM outputs a call asked for (accuracy, argmax, entropy, and zLoss when z > 0),
 * reduced from a kernel's per-row results (common.ts lmOutputs), in the input's element type:
 * crossEntropy's and linearCrossEntropy's results share this shaping.
 */
export function setLmOutputs(fn: string, out: LmOutputFields, target: Int32Array | null, spec: LossSpec, n: number, result: CrossEntropyResult, f32: boolean): void {
  const extra = lmOutputs(fn, target, spec, n, result);
  const shaped = (x: number | Float64Array): number | Float32Array | Float64Array => (typeof x === "number" || !f32 ? x : Float32Array.from(x));
  if (extra.accuracy !== undefined) out.accuracy = shaped(extra.accuracy);
  if (extra.argmax !== undefined) out.argmax = extra.argmax;
  if (extra.entropy !== undefined) out.entropy = shaped(extra.entropy);
  if (extra.zLoss !== undefined) out.zLoss = shaped(extra.zLoss);
}

/** Shape a kernel's result into the public output (float32 in, float32 out). */
export function crossEntropyOutput(args: CrossEntropyArgs, result: CrossEntropyResult, grad: FloatArray | null): CrossEntropyOutput {
  const f32 = args.logits instanceof Float32Array;
  const cast = (x: Float64Array): Float32Array | Float64Array => (f32 ? Float32Array.from(x) : x);
  const out: CrossEntropyOutput = {
    loss: args.spec.reduction === "none" ? cast(result.rowLoss) : result.loss,
    lse: cast(result.lse),
  };
  if (grad !== null) out.grad = grad;
  setLmOutputs("crossEntropy", out, args.target, args.spec, args.n, result, f32);
  return out;
}

/** Run a resolved call on the calling thread (also softmax's and perplexity's). */
export function runCrossEntropy(fn: string, r: ResolvedCrossEntropy): { args: CrossEntropyArgs; result: CrossEntropyResult } {
  const backend = backendFor(fn, r.backend, crossEntropyShape(r));
  const x = r.logits;
  const size = r.n * r.v;
  let gradOut: FloatArray | null = null;
  if (r.grad) gradOut = r.inplace ? x : x instanceof Float32Array ? new Float32Array(size) : new Float64Array(size);
  const args: CrossEntropyArgs = { logits: x, n: r.n, v: r.v, target: r.target, probs: r.probs, spec: r.spec, gradOut };
  return { args, result: backend.crossEntropy!(args) };
}

/**
 * Cross-entropy of logits (N, V) against class indices or probabilities, with PyTorch's
 * semantics for every option, and optionally its gradient from the same call.
 *
 * The result's type follows the call: `loss` is a number for "mean" and "sum" (and by default) and
 * the per-token array for "none"; arrays are Float32Array for float32 logits, Float64Array
 * otherwise; `grad` is present when `grad: true` is given. Options only known as a
 * CrossEntropyOptions give the unions.
 */
export function crossEntropy<X extends LogitsInput, R extends Reduction = "mean", G extends boolean = false, A extends boolean = false, M extends boolean = false, E extends boolean = false>(
  logits: X,
  target: TargetInput,
  options?: CrossEntropyOptions & { reduction?: R; grad?: G; accuracy?: A; argmax?: M; entropy?: E },
): CrossEntropyOutputOf<FloatOutput<X>, R, G, A, M, E>;
export function crossEntropy(logits: LogitsInput, target: TargetInput, options?: CrossEntropyOptions): CrossEntropyOutput {
  const fn = "crossEntropy";
  const { args, result } = runCrossEntropy(fn, resolveCrossEntropy(fn, "crossEntropy", logits, target, options));
  return crossEntropyOutput(args, result, args.gradOut);
}
