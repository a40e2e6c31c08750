/**
 * linearCrossEntropy: the LM head and the loss fused. The logits hidden (N, D) · weightᵀ + bias
 * are computed chunk by chunk and never held whole, so the extra memory is bounded by the chunk
 * budget instead of N×V. Semantics are those of crossEntropy on those logits (design.md §2).
 */
import { getBackend } from "../backends/registry.js";
import type { FloatArray, LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../backends/types.js";
import type { LinearCrossEntropyOptions, LinearCrossEntropyOutput, MatrixInput, TargetInput } from "./options.js";
import { resolveLinear } from "./validateLinear.js";

/** Validate and normalise a call into kernel arguments (shared with the engine's async entry point). */
export function prepareLinearCrossEntropy(
  fn: string,
  hidden: MatrixInput,
  weight: MatrixInput,
  target: TargetInput,
  options: LinearCrossEntropyOptions | undefined,
): { args: LinearCrossEntropyArgs; backend: string; f32: boolean } {
  const r = resolveLinear(fn, hidden, weight, target, options);
  const alloc = (len: number): FloatArray => (r.f32 ? new Float32Array(len) : new Float64Array(len));
  const grad = r.opts.grad;
  const args: LinearCrossEntropyArgs = {
    hidden: r.hidden,
    weight: r.weight,
    bias: r.bias,
    n: r.n,
    d: r.d,
    v: r.v,
    target: r.target,
    probs: r.probs,
    labelSmoothing: r.opts.labelSmoothing,
    classWeight: r.classWeight,
    zLoss: r.opts.zLoss,
    softcap: r.opts.softcap,
    reduction: r.opts.reduction,
    chunkRows: r.chunkRows,
    gradFilter: r.gradFilter,
    gradHidden: grad ? alloc(r.n * r.d) : null,
    gradWeight: grad ? alloc(r.v * r.d) : null,
    gradBias: grad && r.bias !== null ? alloc(r.v) : null,
  };
  return { args, backend: r.opts.backend, f32: r.f32 };
}

/** Shape a kernel's result into the public output (float32 in, float32 out). */
export function finishLinearCrossEntropy(args: LinearCrossEntropyArgs, result: LinearCrossEntropyResult, f32: boolean): LinearCrossEntropyOutput {
  const cast = (x: Float64Array): Float32Array | Float64Array => (f32 ? Float32Array.from(x) : x);
  const out: LinearCrossEntropyOutput = {
    loss: args.reduction === "none" ? cast(result.rowLoss) : result.loss,
    lse: cast(result.lse),
    scratchBytes: result.scratchBytes,
  };
  if (args.gradHidden !== null) out.gradHidden = args.gradHidden;
  if (args.gradWeight !== null) out.gradWeight = args.gradWeight;
  if (args.gradBias !== null) out.gradBias = args.gradBias;
  return out;
}

/**
 * Cross-entropy of the logits hidden (N, D) · weightᵀ (D, V) + bias, without materialising them:
 * `linearCrossEntropy(hidden, weight, target, options)` returns what
 * `crossEntropy(hidden·weightᵀ + bias, target, options)` would, and with `grad` the gradients
 * w.r.t. hidden (N, D), weight (V, D) and bias (V) instead of the logits' gradient.
 */
export function linearCrossEntropy(hidden: Float32Array, weight: MatrixInput, target: TargetInput, options?: LinearCrossEntropyOptions): LinearCrossEntropyOutput<Float32Array>;
export function linearCrossEntropy(hidden: Float64Array | readonly number[] | readonly (readonly number[])[], weight: MatrixInput, target: TargetInput, options?: LinearCrossEntropyOptions): LinearCrossEntropyOutput<Float64Array>;
export function linearCrossEntropy(hidden: MatrixInput, weight: MatrixInput, target: TargetInput, options?: LinearCrossEntropyOptions): LinearCrossEntropyOutput;
export function linearCrossEntropy(hidden: MatrixInput, weight: MatrixInput, target: TargetInput, options?: LinearCrossEntropyOptions): LinearCrossEntropyOutput {
  const fn = "linearCrossEntropy";
  const { args, backend, f32 } = prepareLinearCrossEntropy(fn, hidden, weight, target, options);
  const b = getBackend(backend);
  if (b.linearCrossEntropy === undefined) {
    throw new TypeError(`${fn}: backend "${b.name}" has no linearCrossEntropy kernel; expected a backend that has one, such as "js" or "reference"`);
  }
  return finishLinearCrossEntropy(args, b.linearCrossEntropy(args), f32);
}
