/**
 * linearCrossEntropy: the LM head and the loss fused. The logits hidden (N, D) · weightᵀ + bias
 * are computed chunk by chunk and never held whole, so the extra memory is bounded by the chunk
 * budget instead of N×V. Semantics are those of crossEntropy on those logits.
 */
import { wantsArgmax } from "../backends/common.js";
import { backendFor } from "../backends/registry.js";
import { setLmOutputs } from "./crossEntropy.js";
import type { CallShape, FloatArray, LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../backends/types.js";
import type { BiasInput, FloatOutput, LinearCrossEntropyOptions, LinearCrossEntropyOutput, LinearCrossEntropyOutputOf, MatrixInput, Reduction, TargetInput } from "./options.js";
import { resolveLinear, type ResolvedLinear } from "./resolve.js";

/** What the registry is asked about a linearCrossEntropy call (lmOutputs: argmax, accuracy or entropy asked for). */
export function linearShape(r: Pick<ResolvedLinear, "hidden" | "n" | "d" | "v" | "grad" | "spec">): CallShape {
  const lmOutputs = wantsArgmax(r.spec) || r.spec.entropy;
  return { kernel: "linearCrossEntropy", dtype: r.hidden instanceof Float32Array ? "float32" : "float64", n: r.n, v: r.v, d: r.d, grad: r.grad, lmOutputs };
}

/** Kernel arguments of a resolved call, with `gradWeight` given (or fresh zeros in hidden's type). */
export function linearArgs(r: ResolvedLinear, gradWeight: FloatArray | null = null): LinearCrossEntropyArgs {
  const zeros = (len: number): FloatArray => (r.hidden instanceof Float32Array ? new Float32Array(len) : new Float64Array(len));
  return {
    hidden: r.hidden, weight: r.weight, bias: r.bias, n: r.n, d: r.d, v: r.v, target: r.target, probs: r.probs, spec: r.spec,
    chunkRows: r.chunkRows, gradFilter: r.gradFilter,
    gradHidden: r.grad ? zeros(r.n * r.d) : null,
    gradWeight: r.grad ? (gradWeight ?? zeros(r.v * r.d)) : null,
    gradBias: r.grad && r.bias !== null ? zeros(r.v) : null,
  };
}

/** Shape a kernel's result into the public output (float32 in, float32 out). */
export function linearOutput(args: LinearCrossEntropyArgs, result: LinearCrossEntropyResult, gradWeight: FloatArray | null, extraBytes = 0): LinearCrossEntropyOutput {
  const f32 = args.hidden instanceof Float32Array;
  const cast = (x: Float64Array): Float32Array | Float64Array => (f32 ? Float32Array.from(x) : x);
  const out: LinearCrossEntropyOutput = {
    loss: args.spec.reduction === "none" ? cast(result.rowLoss) : result.loss,
    lse: cast(result.lse),
    scratchBytes: result.scratchBytes + extraBytes,
  };
  if (args.gradHidden !== null) out.gradHidden = args.gradHidden;
  if (gradWeight !== null) out.gradWeight = gradWeight;
  if (args.gradBias !== null) out.gradBias = args.gradBias;
  setLmOutputs("linearCrossEntropy", out, args.target, args.spec, args.n, result, f32);
  return out;
}

/** Run a resolved call on the calling thread. */
function runLinear(fn: string, r: ResolvedLinear): LinearCrossEntropyOutput {
  const backend = backendFor(fn, r.backend, linearShape(r));
  const args = linearArgs(r);
  return linearOutput(args, backend.linearCrossEntropy!(args), args.gradWeight);
}

/**
 * Cross-entropy of the logits hidden (N, D) · weightᵀ (D, V) + bias, without materialising them:
 * `linearCrossEntropy(hidden, weight, target, options)` returns what
 * `crossEntropy(hidden·weightᵀ + bias, target, options)` would, and with `grad` the gradients
 * w.r.t. hidden (N, D), weight (V, D) and bias (V) instead of the logits' gradient.
 *
 * The result's type follows the call as crossEntropy's does (the element type is hidden's), with
 * gradHidden and gradWeight present when `grad: true` is given, and gradBias too with a bias.
 */
export function linearCrossEntropy<
  X extends MatrixInput, R extends Reduction = "mean", G extends boolean = false, B extends BiasInput | undefined = undefined, A extends boolean = false, M extends boolean = false, E extends boolean = false,
>(
  hidden: X,
  weight: MatrixInput,
  target: TargetInput,
  options?: LinearCrossEntropyOptions & { reduction?: R; grad?: G; bias?: B; accuracy?: A; argmax?: M; entropy?: E },
): LinearCrossEntropyOutputOf<FloatOutput<X>, R, G, B, A, M, E>;
export function linearCrossEntropy(hidden: MatrixInput, weight: MatrixInput, target: TargetInput, options?: LinearCrossEntropyOptions): LinearCrossEntropyOutput {
  const fn = "linearCrossEntropy";
  return runLinear(fn, resolveLinear(fn, hidden, weight, target, options));
}
