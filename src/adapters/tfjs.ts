/**
 * TensorFlow.js adapter (`xent/tfjs`): xent's fused cross-entropy as a differentiable tfjs op.
 *
 * The forward pass calls the public `crossEntropy` once with `grad: true`: one read of the
 * logits gives the loss and d loss / d logits together (no separate softmax, no one-hot N×V
 * tensor). The gradient is saved for the backward pass, which only scales it by dy.
 *
 * `@tensorflow/tfjs-core` is an optional peer dependency: only this subpath imports it, and
 * the core entry (`xent`) never does. Any registered tfjs backend works (cpu, wasm, webgl);
 * the logits are read back with `dataSync()`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { crossEntropy as coreCrossEntropy } from "../index.js";
import type { CrossEntropyOptions } from "../index.js";

/** Options of the tfjs op: the core's, less those the op decides (classes, grad, inplace). */
export type TfCrossEntropyOptions = Omit<CrossEntropyOptions, "classes" | "grad" | "inplace">;

/** Class-index targets: an int32 tensor of shape (N), an Int32Array, or a number[]. */
export type TfTarget = tf.Tensor1D | Int32Array | readonly number[];

function targetArray(fn: string, target: TfTarget): Int32Array | readonly number[] {
  if (target instanceof tf.Tensor) {
    if (target.rank !== 1) throw new RangeError(`${fn}: target has shape [${target.shape.join(", ")}]; expected an int32 tensor of shape [N]`);
    if (target.dtype !== "int32") throw new TypeError(`${fn}: target has dtype ${target.dtype}; expected int32 class indices`);
    return target.dataSync() as Int32Array;
  }
  return target;
}

/**
 * Cross-entropy of (N, V) logits against class indices, as a tfjs op with xent's gradient.
 * Returns a scalar for reduction "mean" and "sum", and a (N) tensor of per-token losses for
 * "none". Usable inside `optimizer.minimize`, `tf.grad(s)` and `tf.variableGrads`.
 */
export function crossEntropy(logits: tf.Tensor2D, target: TfTarget, options?: TfCrossEntropyOptions): tf.Scalar | tf.Tensor1D {
  const fn = "tfjs.crossEntropy";
  if (!(logits instanceof tf.Tensor) || logits.rank !== 2) {
    throw new TypeError(`${fn}: logits is ${logits instanceof tf.Tensor ? `a tensor of shape [${logits.shape.join(", ")}]` : typeof logits}; expected a 2-D tensor (N, V)`);
  }
  for (const key of ["classes", "grad", "inplace"]) {
    if (options !== undefined && key in options) throw new TypeError(`${fn}: option "${key}" is set by the op; leave it out`);
  }
  const [n, v] = logits.shape;
  const t = targetArray(fn, target);
  const reduction = options?.reduction ?? "mean";
  // customGrad passes the inputs, then the save function: here (logits, save).
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    // (N, V) float32, read once; the core never writes to it (inplace is off).
    const data = x.dataSync() as Float32Array;
    const out = coreCrossEntropy(data, t, { ...options, classes: v, grad: true });
    const grad = tf.tensor2d(out.grad!, [n, v]);
    save([grad]);
    const value = typeof out.loss === "number" ? tf.scalar(out.loss) : tf.tensor1d(out.loss);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const g = saved[0]!;
        // mean/sum: dy is a scalar; none: dy is (N), one factor per row.
        return reduction === "none" ? tf.mul(tf.reshape(dy, [n, 1]), g) : tf.mul(dy, g);
      },
    };
  });
  return op(logits) as tf.Scalar | tf.Tensor1D;
}
