/**
 * TensorFlow.js adapter (`xent/tfjs`): xent's fused cross-entropy as a differentiable tfjs op.
 *
 * The forward pass calls the public `crossEntropy` once with `grad: true`: one read of the
 * logits gives the loss and d loss / d logits together (no separate softmax, no one-hot N×V
 * tensor). The gradient is saved for the backward pass, which only scales it by dy.
 *
 * `@tensorflow/tfjs-core` is an optional peer dependency: only this subpath imports it, and
 * the core entry (`xent`) never does. Any registered tfjs backend works (cpu, wasm, webgl);
 * the logits are read back with `dataSync()`. On tfjs's webgpu backend, after `await
 * useWebGpu()`, `crossEntropy` runs on tfjs's own GPU device instead and nothing of size N×V is
 * read back: the logits' buffer is read where tfjs holds it, the gradient is written over
 * tfjs's copy of it (`dataToGPU()`), and the loss is reduced on the GPU by tfjs ops. So does
 * `linearCrossEntropy` (the GPU linear head on tfjs's buffers, its gradients returned as GPU
 * tensors: nothing of size N·D, V·D or N·V read back).
 */
import * as tf from "@tensorflow/tfjs-core";
import { createEngine, crossEntropy as coreCrossEntropy, distillationLoss as coreDistillationLoss, linearCrossEntropy as coreLinearCrossEntropy } from "../index.js";
import type { CrossEntropyOptions, DistillationOptions, Engine, GpuDeviceLike, GpuLinearSubmission, LinearCrossEntropyOptions } from "../index.js";

/** Options of the tfjs op: the core's, less those the op decides (classes, grad, inplace). */
export type TfCrossEntropyOptions = Omit<CrossEntropyOptions, "classes" | "grad" | "inplace">;

/** Class-index targets: an int32 tensor of shape (N), an Int32Array, or a number[]. */
export type TfTarget = tf.Tensor1D | Int32Array | readonly number[];

/** The target's class indices, after checking that there is one per row: `rows` is N, `of` names where N comes from. */
function targetArray(fn: string, target: TfTarget, rows: number, of: string): Int32Array | readonly number[] {
  if (target instanceof tf.Tensor) {
    if (target.rank !== 1) throw new RangeError(`${fn}: target has shape [${target.shape.join(", ")}]; expected an int32 tensor of shape [N]`);
    if (target.dtype !== "int32") throw new TypeError(`${fn}: target has dtype ${target.dtype}; expected int32 class indices`);
  }
  const len: unknown = target instanceof tf.Tensor ? target.shape[0] : target?.length;
  if (typeof len === "number" && len !== rows) {
    throw new RangeError(`${fn}: target has shape [${len}] and ${of}; expected target of shape [${rows}], one class index per row`);
  }
  return target instanceof tf.Tensor ? int32Data(fn, "target", target) : target;
}

const shapeOf = (x: tf.Tensor): string => `[${x.shape.join(", ")}]`;

/** A float32 tensor's values (read, never written), checked instead of cast. */
function float32Data(fn: string, name: string, x: tf.Tensor): Float32Array {
  const data = x.dataSync();
  if (!(data instanceof Float32Array)) throw new TypeError(`${fn}: ${name} has dtype ${x.dtype}; expected a float32 tensor`);
  return data;
}

/** The gradient of a customGrad op's (N, V) input from its saved (N, V) gradient, scaled by dy: a scalar for "mean"/"sum", one factor per row for "none". */
function scaledGrad(n: number, none: boolean) {
  return (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor => {
    const g = saved[0]!;
    return none ? tf.mul(tf.reshape(dy, [n, 1]), g) : tf.mul(dy, g);
  };
}

/**
 * The loss value of a customGrad op and the gradient of its (N, V) input: the core's (N, V)
 * gradient is saved, and scaled by dy, a scalar for "mean"/"sum" or one factor per row for "none".
 */
function lossAndGrad(loss: number | Float32Array, grad: Float32Array, n: number, v: number, none: boolean, save: tf.GradSaveFunc) {
  save([tf.tensor2d(grad, [n, v])]);
  const value = typeof loss === "number" ? tf.scalar(loss) : tf.tensor1d(loss);
  return { value, gradOf: scaledGrad(n, none) };
}

/** The xent engine on TensorFlow.js's webgpu device, once useWebGpu() has made it. */
let gpu: { device: GpuDeviceLike; engine: Engine } | null = null;

function isDevice(d: unknown): d is GpuDeviceLike {
  return typeof d === "object" && d !== null && "queue" in d && "createBuffer" in d && typeof d.createBuffer === "function" && "createComputePipelineAsync" in d;
}

/** tfjs's GPUDevice when its backend is "webgpu", else null. */
function tfDevice(): GpuDeviceLike | null {
  if (tf.getBackend() !== "webgpu") return null;
  const d: unknown = Reflect.get(tf.backend(), "device");
  return isDevice(d) ? d : null;
}

/**
 * Let the ops run on TensorFlow.js's webgpu backend without reading the logits back: creates (once
 * per tfjs device) the xent engine on tfjs's own GPUDevice. Call it after
 * `await tf.setBackend("webgpu")`; until then `crossEntropy` and `linearCrossEntropy` on that
 * backend throw, rather than silently read their inputs back to the CPU.
 */
export async function useWebGpu(): Promise<void> {
  await tf.ready();
  const device = tfDevice();
  if (device === null) {
    throw new Error(`tfjs.useWebGpu: tfjs's backend is "${tf.getBackend()}"; expected "webgpu" (import "@tensorflow/tfjs-backend-webgpu" and await tf.setBackend("webgpu") first)`);
  }
  if (gpu?.device === device) return;
  gpu?.engine.dispose();
  gpu = null;
  gpu = { device, engine: await createEngine({ backend: "webgpu", device }) };
}

/** The xent engine on tfjs's device when tfjs runs on webgpu (null on other backends); refused until useWebGpu() has made it. */
function gpuEngine(fn: string): Engine | null {
  const device = tfDevice();
  if (device === null) return null;
  if (gpu === null || gpu.device !== device) {
    throw new Error(`${fn}: tfjs runs on webgpu; expected \`await useWebGpu()\` once after tf.setBackend("webgpu"), so that xent runs on tfjs's device and the tensors stay on the GPU`);
  }
  return gpu.engine;
}

/** tfjs's GPUBuffer type. */
type TfGpuBuffer = NonNullable<tf.GPUData["buffer"]>;

/**
 * A float32 tensor's buffer on tfjs's device (`dataToGPU`: a copy on the GPU that tfjs owns, its
 * tensor `tensorRef` to dispose), or null when tfjs still holds the values on the CPU (a tensor
 * made from an array that no GPU op has used yet: reading them there costs no download).
 */
function gpuData(fn: string, name: string, x: tf.Tensor): { buffer: TfGpuBuffer; tensorRef: tf.Tensor } | null {
  if (x.dtype !== "float32") throw new TypeError(`${fn}: ${name} has dtype ${x.dtype}; expected a float32 tensor`); // as float32Data says on the CPU path
  let data: tf.GPUData;
  try {
    data = x.dataToGPU();
  } catch (e) {
    if (e instanceof Error && /not on GPU but on CPU/.test(e.message)) return null;
    throw e;
  }
  const { buffer, tensorRef } = data;
  if (buffer === undefined) {
    tensorRef.dispose();
    throw new Error(`${fn}: ${name} gave no GPUBuffer on the webgpu backend`);
  }
  return { buffer, tensorRef };
}

/**
 * The loss from a submission's (N, 2) per-row loss and lse buffer, by tfjs ops on the GPU (float32):
 * the per-token losses for "none", their sum, or the sum over the mean's denominator `d`.
 */
function rowsLoss(rowsBuffer: TfGpuBuffer, n: number, reduction: string, d: number): tf.Tensor {
  return tf.tidy(() => {
    const rows = tf.tensor({ buffer: rowsBuffer }, [n, 2], "float32"); // a copy on the GPU: the next submission rewrites rowsBuffer
    const loss = tf.reshape(tf.slice(rows, [0, 0], [n, 1]), [n]);
    return reduction === "none" ? loss : reduction === "sum" ? tf.sum(loss) : tf.div(tf.sum(loss), d);
  });
}

/**
 * The forward pass of crossEntropy on tfjs's webgpu backend, synchronous as tfjs ops are: the
 * kernel is submitted on tfjs's device, reading the buffer of tfjs's copy of the logits
 * (`dataToGPU`, a copy on the GPU) and writing the gradient over it, which then is the saved
 * gradient tensor; the per-row losses are reduced by tfjs ops (float32 on the GPU). Nothing of
 * size N×V is read back. Null when the logits' values are still on the CPU (reading them there
 * costs no download).
 */
function gpuForward(fn: string, engine: Engine, x: tf.Tensor, save: tf.GradSaveFunc, t: Int32Array | readonly number[], options: TfCrossEntropyOptions | undefined) {
  const [n, v] = x.shape as [number, number];
  const data = gpuData(fn, "logits", x);
  if (data === null) return null;
  const { buffer, tensorRef } = data;
  let sub;
  try {
    sub = engine.submitCrossEntropy({ buffer, length: n * v }, t, { ...options, classes: v, grad: true, inplace: true });
  } catch (e) {
    tensorRef.dispose();
    throw e;
  }
  // now d loss / d logits (over D for "mean"); tfjs may keep the data with another shape (matMul's [1, N, V])
  const grad = tf.reshape(tensorRef, [n, v]);
  tensorRef.dispose();
  save([grad]);
  const reduction = options?.reduction ?? "mean";
  return { value: rowsLoss(sub.rows, n, reduction, sub.denominator), gradFunc: scaledGrad(n, reduction === "none") };
}

/** An int32 tensor's values, checked instead of cast. */
function int32Data(fn: string, name: string, x: tf.Tensor): Int32Array {
  const data = x.dataSync();
  if (!(data instanceof Int32Array)) throw new TypeError(`${fn}: ${name} has dtype ${x.dtype}; expected an int32 tensor`);
  return data;
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
  const t = targetArray(fn, target, n, `logits ${shapeOf(logits)}`);
  const reduction = options?.reduction ?? "mean";
  const engine = gpuEngine(fn);
  // customGrad passes the inputs, then the save function: here (logits, save).
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const onGpu = engine === null ? null : gpuForward(fn, engine, x, save, t, options);
    if (onGpu !== null) return onGpu;
    // (N, V) float32, read once; the core never writes to it (inplace is off).
    const data = float32Data(fn, "logits", x);
    const out = coreCrossEntropy(data, t, { ...options, classes: v, grad: true });
    const { value, gradOf } = lossAndGrad(out.loss, out.grad!, n, v, reduction === "none", save);
    return { value, gradFunc: gradOf };
  });
  return op(logits) as tf.Scalar | tf.Tensor1D;
}

/** Options of the fused linear op: the core's, less those the op decides or takes as tensors. */
export type TfLinearCrossEntropyOptions = Omit<LinearCrossEntropyOptions, "grad" | "bias" | "classes"> & {
  /** The LM head's bias, a (V) tensor; differentiable like hidden and weight. */
  bias?: tf.Tensor1D;
};

function matrix(fn: string, name: string, x: unknown, rank: number): void {
  if (!(x instanceof tf.Tensor) || x.rank !== rank) {
    throw new TypeError(`${fn}: ${name} is ${x instanceof tf.Tensor ? `a tensor of shape [${x.shape.join(", ")}]` : typeof x}; expected a ${rank}-D tensor`);
  }
}

/**
 * The LM head and the loss fused, as a tfjs op: the loss of logits hidden (N, D) · weightᵀ + bias
 * (weight is (V, D), as in nn.Linear) without ever holding the (N, V) logits, with gradients for
 * hidden, weight and bias from the same call. Returns a scalar for "mean" and "sum", a (N)
 * tensor for "none".
 *
 * Under "none" the fused kernel gives the gradient of the sum of the per-token losses; rows whose
 * upstream gradients differ cannot be separated afterwards in d weight. The backward pass is
 * therefore exact in every case: when every row's upstream gradient is the same value c (a sum or
 * mean of the per-token losses) it scales the saved gradients by c; otherwise it runs the fused
 * kernel once per distinct value, on the rows that carry it (the others ignored), and adds up
 * (a 0/1 mask costs one extra call; N distinct values cost N calls). On tfjs's webgpu backend
 * (after `useWebGpu()`) the GPU head runs instead (`gpuLinear`); its "none" backward pass scales
 * each row by its upstream gradient on the GPU, in one pass; accuracy, argmax and entropy are
 * refused there.
 */
export function linearCrossEntropy(hidden: tf.Tensor2D, weight: tf.Tensor2D, target: TfTarget, options?: TfLinearCrossEntropyOptions): tf.Scalar | tf.Tensor1D {
  const fn = "tfjs.linearCrossEntropy";
  matrix(fn, "hidden", hidden, 2);
  matrix(fn, "weight", weight, 2);
  for (const key of ["classes", "grad"]) {
    if (options !== undefined && key in options) throw new TypeError(`${fn}: option "${key}" is set by the op; leave it out`);
  }
  const { bias, ...rest } = options ?? {};
  if (bias !== undefined) matrix(fn, "options.bias", bias, 1);
  // Shapes come from the tensors: hidden (N, D), weight (V, D), bias (V), target (N).
  const [n, d] = hidden.shape;
  const [v, dw] = weight.shape;
  if (dw !== d) {
    throw new RangeError(`${fn}: hidden has shape ${shapeOf(hidden)} and weight ${shapeOf(weight)}; expected weight of shape [V, ${d}], the same D as hidden`);
  }
  if (bias !== undefined && bias.shape[0] !== v) {
    throw new RangeError(`${fn}: options.bias has shape ${shapeOf(bias)} and weight ${shapeOf(weight)}; expected bias of shape [${v}], one per row of weight`);
  }
  const t = targetArray(fn, target, n, `hidden ${shapeOf(hidden)}`);
  const reduction = rest.reduction ?? "mean";
  const ignoreIndex = rest.ignoreIndex ?? -100;
  const engine = gpuEngine(fn);

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const inputs = args.slice(0, bias === undefined ? 2 : 3) as tf.Tensor[];
    const save = args[inputs.length] as tf.GradSaveFunc;
    if (engine !== null) return gpuLinear(fn, engine, inputs, save, t, rest, [n, d, v]);
    const h = float32Data(fn, "hidden", inputs[0]!);
    const w = float32Data(fn, "weight", inputs[1]!);
    const b = inputs[2] === undefined ? undefined : float32Data(fn, "bias", inputs[2]);
    const run = (tgt: TfTarget | Int32Array) =>
      coreLinearCrossEntropy(h, w, tgt as Int32Array, { ...rest, classes: v, grad: true, ...(b !== undefined ? { bias: b } : {}) });
    const out = run(t);
    const grads: tf.Tensor[] = [tf.tensor2d(out.gradHidden!, [n, d]), tf.tensor2d(out.gradWeight!, [v, d])];
    if (b !== undefined) grads.push(tf.tensor1d(out.gradBias!));
    save(grads);
    const value = typeof out.loss === "number" ? tf.scalar(out.loss) : tf.tensor1d(out.loss);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        if (reduction !== "none") return saved.map((g) => tf.mul(dy, g));
        const dys = dy.dataSync();
        const values = [...new Set(Array.from(dys))];
        if (values.length === 1) return saved.map((g) => tf.mul(g, values[0]!));
        // Rows with different upstream gradients: one fused call per distinct value.
        const total = [new Float32Array(n * d), new Float32Array(v * d), new Float32Array(b === undefined ? 0 : v)];
        const tt = Array.from(t as ArrayLike<number>);
        for (const c of values) {
          if (c === 0) continue;
          const group = Int32Array.from(tt, (y, i) => (dys[i] === c ? y : ignoreIndex));
          const part = run(group);
          const parts = [part.gradHidden!, part.gradWeight!, part.gradBias ?? new Float32Array(0)];
          parts.forEach((p, k) => {
            const acc = total[k]!;
            for (let j = 0; j < acc.length; j++) acc[j]! += c * p[j]!;
          });
        }
        const out: tf.Tensor[] = [tf.tensor2d(total[0]!, [n, d]), tf.tensor2d(total[1]!, [v, d])];
        if (b !== undefined) out.push(tf.tensor1d(total[2]!));
        return out;
      },
    };
  });
  const call = op as unknown as (...xs: tf.Tensor[]) => tf.Tensor;
  return (bias === undefined ? call(hidden, weight) : call(hidden, weight, bias)) as tf.Scalar | tf.Tensor1D;
}

const LINEAR_INPUTS = ["hidden", "weight", "bias"] as const;

/**
 * The fused linear op on tfjs's webgpu backend, synchronous as tfjs ops are: hidden, weight and
 * bias are read where tfjs holds them (`dataToGPU`, copies on the GPU disposed once the work is
 * submitted; values tfjs still holds on the CPU are uploaded), the engine's linear head is
 * submitted on tfjs's device, the loss is reduced by tfjs ops, and the gradients become tensors
 * on copies of the engine's buffers (`tf.tensor({ buffer })`, made before the next submission
 * rewrites them). Nothing of size N·D, V·D or N·V is read back.
 *
 * "mean"/"sum": the forward pass computes the gradients, and the backward pass scales them by the
 * scalar dy. "none": the forward pass computes the losses only, and the backward pass submits the
 * head again with dy as each row's upstream factor, so that the gradients are those of
 * Σ_i dy_i·L_i whatever dy holds (one GPU pass, no readback of dy).
 */
function gpuLinear(
  fn: string, engine: Engine, inputs: tf.Tensor[], save: tf.GradSaveFunc, t: Int32Array | readonly number[],
  options: Omit<TfLinearCrossEntropyOptions, "bias">, [n, d, v]: [number, number, number],
) {
  const reduction = options.reduction ?? "mean";
  /** Submit the head on `xs` (hidden, weight, bias?); with `dy`, each row's gradient scaled by it. */
  const submit = (xs: readonly tf.Tensor[], grad: boolean, dy: tf.Tensor | null) => {
    const refs: tf.Tensor[] = [];
    const operand = (name: string, x: tf.Tensor, length: number) => {
      const data = gpuData(fn, name, x);
      if (data === null) return float32Data(fn, name, x); // on the CPU: no download; the engine uploads it
      refs.push(data.tensorRef);
      return { buffer: data.buffer, length };
    };
    try {
      const [h, w, b] = xs.map((x, i) => operand(`${i === 2 ? "options." : ""}${LINEAR_INPUTS[i]!}`, x, x.size));
      const up = dy === null ? null : operand("the upstream gradient", dy, n);
      return engine.submitLinearCrossEntropy(h!, w!, t, { ...options, grad, ...(b !== undefined ? { bias: b } : {}), ...(up !== null ? { upstream: up } : {}) });
    } finally {
      for (const r of refs) r.dispose(); // our work is submitted: tfjs's later use of these buffers comes after it
    }
  };
  /** The gradients as tensors on copies of the submission's buffers. */
  const gradients = (sub: GpuLinearSubmission<TfGpuBuffer>, withBias: boolean): tf.Tensor[] => {
    const out = [tf.tensor({ buffer: sub.gradHidden! }, [n, d], "float32"), tf.tensor({ buffer: sub.gradWeight! }, [v, d], "float32")];
    if (withBias) out.push(tf.tensor({ buffer: sub.gradBias! }, [v], "float32"));
    return out;
  };
  const withBias = inputs.length === 3;
  if (reduction !== "none") {
    const sub = submit(inputs, true, null);
    save(gradients(sub, withBias));
    return { value: rowsLoss(sub.rows, n, reduction, sub.denominator), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => saved.map((g) => tf.mul(dy, g)) };
  }
  const sub = submit(inputs, false, null);
  save(inputs);
  return {
    value: rowsLoss(sub.rows, n, reduction, sub.denominator),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => gradients(submit(saved, true, dy), withBias),
  };
}

/** Options of the distillation op: the core's, less those the op decides. */
export type TfDistillationOptions = Omit<DistillationOptions, "classes" | "grad" | "inplace" | "target"> & {
  /** (N) targets whose ignoreIndex masks tokens: an int32 tensor, an Int32Array or a number[]. */
  target?: TfTarget;
};

/**
 * Distillation loss of (N, V) student logits from (N, V) teacher logits (KL, reverse KL or the
 * generalized JSD at temperature T, times T²; docs/lm-outputs.md), as a tfjs op: the gradient
 * flows to the student's logits, none to the teacher's. A scalar for "batchmean" and "sum", a (N)
 * tensor for "none".
 */
export function distillationLoss(student: tf.Tensor2D, teacher: tf.Tensor2D, options?: TfDistillationOptions): tf.Scalar | tf.Tensor1D {
  const fn = "tfjs.distillationLoss";
  for (const [name, x] of [["student", student], ["teacher", teacher]] as const) {
    if (!(x instanceof tf.Tensor) || x.rank !== 2) {
      throw new TypeError(`${fn}: ${name} is ${x instanceof tf.Tensor ? `a tensor of shape [${x.shape.join(", ")}]` : typeof x}; expected a 2-D tensor (N, V)`);
    }
  }
  for (const key of ["classes", "grad", "inplace"]) {
    if (options !== undefined && key in options) throw new TypeError(`${fn}: option "${key}" is set by the op; leave it out`);
  }
  const [n, v] = student.shape;
  const target = options?.target === undefined ? undefined : targetArray(fn, options.target, n, `studentLogits ${shapeOf(student)}`);
  const coreOptions: DistillationOptions = { ...options, target, classes: v, grad: true };
  if (target === undefined) delete coreOptions.target;
  const none = options?.reduction === "none";
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const s = args[0] as tf.Tensor;
    const t = args[1] as tf.Tensor;
    const save = args[2] as tf.GradSaveFunc;
    const out = coreDistillationLoss(float32Data(fn, "student", s), float32Data(fn, "teacher", t), coreOptions);
    const { value, gradOf } = lossAndGrad(out.loss, out.grad!, n, v, none, save);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [gradOf(dy, saved), tf.zeros([n, v])] };
  });
  return op(student, teacher) as tf.Scalar | tf.Tensor1D;
}
