/**
 * crossEntropy: validate once, pick a backend, run one kernel, shape the result.
 * Semantics follow torch.nn.functional.cross_entropy (design.md §2); see README.
 */
import { getBackend } from "../backends/registry.js";
import type { CrossEntropyArgs, CrossEntropyResult, FloatArray } from "../backends/types.js";
import type { CrossEntropyOptions, CrossEntropyOutput, LogitsInput, TargetInput } from "./options.js";
import { resolveLogits, resolveOptions, resolveTarget } from "./validate.js";

/** Validate and normalise a call into kernel arguments (shared with the engine's async entry points). */
export function prepareCrossEntropy(
  fn: string,
  logits: LogitsInput,
  target: TargetInput,
  options: CrossEntropyOptions | undefined,
): { args: CrossEntropyArgs; backend: string; f32: boolean } {
  const flat = resolveLogits(fn, logits, options?.classes);
  const opts = resolveOptions(fn, options, flat.v);
  if (opts.inplace && !flat.callerBuffer) {
    throw new TypeError(`${fn}: options.inplace needs logits as a Float32Array or Float64Array; got a plain array`);
  }
  const { target: t, probs } = resolveTarget(fn, target, flat.n, flat.v, opts.ignoreIndex);
  const f32 = flat.data instanceof Float32Array;
  const size = flat.n * flat.v;
  let gradOut: FloatArray | null = null;
  if (opts.grad) gradOut = opts.inplace ? flat.data : f32 ? new Float32Array(size) : new Float64Array(size);
  const args: CrossEntropyArgs = {
    logits: flat.data,
    n: flat.n,
    v: flat.v,
    target: t,
    probs,
    labelSmoothing: opts.labelSmoothing,
    weight: opts.weight,
    zLoss: opts.zLoss,
    softcap: opts.softcap,
    reduction: opts.reduction,
    gradOut,
  };
  return { args, backend: opts.backend, f32 };
}

/** Shape a kernel's result into the public output (float32 in, float32 out). */
export function finishCrossEntropy(args: CrossEntropyArgs, result: CrossEntropyResult, f32: boolean): CrossEntropyOutput {
  const cast = (x: Float64Array): Float32Array | Float64Array => (f32 ? Float32Array.from(x) : x);
  const out: CrossEntropyOutput = {
    loss: args.reduction === "none" ? cast(result.rowLoss) : result.loss,
    lse: cast(result.lse),
  };
  if (args.gradOut !== null) out.grad = args.gradOut;
  return out;
}

/**
 * Cross-entropy of logits (N, V) against class indices or probabilities, with PyTorch's
 * semantics for every option, and optionally its gradient from the same call.
 */
export function crossEntropy(logits: Float32Array, target: TargetInput, options?: CrossEntropyOptions): CrossEntropyOutput<Float32Array>;
export function crossEntropy(logits: Float64Array | readonly number[] | readonly (readonly number[])[], target: TargetInput, options?: CrossEntropyOptions): CrossEntropyOutput<Float64Array>;
export function crossEntropy(logits: LogitsInput, target: TargetInput, options?: CrossEntropyOptions): CrossEntropyOutput;
export function crossEntropy(logits: LogitsInput, target: TargetInput, options?: CrossEntropyOptions): CrossEntropyOutput {
  const { args, backend, f32 } = prepareCrossEntropy("crossEntropy", logits, target, options);
  return finishCrossEntropy(args, getBackend(backend).crossEntropy(args), f32);
}
