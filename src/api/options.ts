/**
 * The public options: their types, and the one option table (OPTIONS) that says which call
 * takes each option, its default, and how it is checked (every message names the function, the
 * option, the value and what was expected). src/api/resolve.ts applies this table for every
 * entry point: crossEntropy, linearCrossEntropy, softmax/logSoftmax/perplexity and the engine.
 */
import type { DistillationKind, DistillationReduction, FloatArray, GpuBufferLike, GpuDtype, Reduction } from "../backends/types.js";

export type { DistillationKind, DistillationReduction, GpuBufferLike, GpuDtype, Reduction };

/**
 * A backend's name: one that xent ships ("wasm" once `init()` has run; "webgpu" for the engine only), or one added with
 * registerBackend. The `string & {}` keeps editors suggesting the known names.
 */
export type BackendName = "auto" | "js" | "reference" | "wasm" | "webgpu" | (string & {});

/**
 * Part of a GPU buffer holding logits (or probabilities) for a webgpu engine (docs/webgpu.md):
 * `length` elements of `dtype` from byte `offset` of `buffer`. `B` is the buffer's type (WebGPU's
 * GPUBuffer where @webgpu/types is installed), which the gradient then has too.
 */
export interface GpuBufferView<B extends GpuBufferLike = GpuBufferLike> {
  readonly buffer: B;
  /** Byte offset of the first element, a multiple of 4. Default 0. */
  readonly offset?: number;
  /** Elements (N×V). Default: the rest of the buffer after `offset`. */
  readonly length?: number;
  /** "float32" (default), or 16-bit "float16" / "bfloat16", two to a 32-bit word. */
  readonly dtype?: GpuDtype;
}

/** Logits on the GPU: a GPUBuffer (float32 unless options.dtype says otherwise) or a view of one. */
export type GpuLogits<B extends GpuBufferLike = GpuBufferLike> = B | GpuBufferView<B>;

/** Logits an engine takes: those of crossEntropy, and on a webgpu engine GPU buffers and 16-bit host floats (Uint16Array bits, with options.dtype). */
export type EngineLogitsInput = LogitsInput | Uint16Array | GpuLogits;

/** Targets an engine takes: those of crossEntropy, and on a webgpu engine float32 probabilities on the GPU. */
export type EngineTargetInput = TargetInput | { readonly probs: GpuLogits };

/** The gradient's type for logits of type `X`: the GPU buffer's type for GPU logits, Uint16Array for 16-bit host logits, else FloatOutput. */
export type GradOutput<X> = [X] extends [GpuBufferView<infer B>] ? B : [X] extends [GpuBufferLike] ? X : [X] extends [Uint16Array] ? Uint16Array : FloatOutput<X>;

/** The element type of a result for input of type `X`: Float32Array for float32 (and 16-bit or GPU logits), Float64Array for float64 or numbers. */
export type FloatOutput<X> = [X] extends [Float32Array | Uint16Array | GpuLogits] ? Float32Array : [X] extends [Float64Array | readonly number[] | readonly (readonly number[])[]] ? Float64Array : FloatArray;

/** Logits: N×V row-major floats, or N rows of V numbers. */
export type LogitsInput = Float32Array | Float64Array | readonly number[] | readonly (readonly number[])[];

/** Class-index targets (length N), or probability targets (N×V, flat or as rows). */
export type TargetInput =
  | Int32Array
  | Uint32Array
  | readonly number[]
  | { readonly probs: Float32Array | Float64Array | readonly number[] | readonly (readonly number[])[] };

export interface CrossEntropyOptions {
  /** V, the number of classes. Required for flat logits; checked against the rows otherwise. */
  classes?: number;
  /** How per-token losses are combined. Default "mean" (divided by the sum of the targets' weights). */
  reduction?: Reduction;
  /** Targets equal to this contribute no loss and a zero gradient row. Default -100. */
  ignoreIndex?: number;
  /** ε in [0, 1]: the target becomes (1-ε)·onehot + ε/V (PyTorch's convention). Default 0. */
  labelSmoothing?: number;
  /** Per-class weights, length V, non-negative. Default all ones. */
  weight?: Float32Array | Float64Array | readonly number[];
  /** z: adds z·lse² per token (PaLM's z-loss). Default 0. */
  zLoss?: number;
  /** s > 0: logits become s·tanh(x/s) before the softmax (Gemma 2). Default off. */
  softcap?: number;
  /** τ > 0: the softmax sees softcap(x)/τ (softcap first); lse, entropy and argmax are those of softcap(x)/τ. Default 1. */
  temperature?: number;
  /**
   * d > 0, with reduction "mean": divide the summed loss (and the gradient) by d instead of the
   * weight sum of the tokens not ignored, e.g. the tokens of a whole optimiser step. Default off.
   */
  denominator?: number;
  /** Also return `accuracy`: [argmax = target] over the tokens not ignored, reduced as the loss (index targets only). Default false. */
  accuracy?: boolean;
  /** Also return `argmax`, the predicted class of every row (first index on ties). Default false. */
  argmax?: boolean;
  /** Also return `entropy`: −Σ p·log p of each token's softmax, reduced as the loss (unweighted). Default false. */
  entropy?: boolean;
  /** Also return d loss / d logits. Default false. */
  grad?: boolean;
  /** Write the gradient into the logits buffer instead of a new array. Needs grad and float logits. */
  inplace?: boolean;
  /**
   * The format of Uint16Array logits and of a bare GPUBuffer on a webgpu engine: "float16" or
   * "bfloat16" bits, or "float32" (default). Typed float arrays are float32 or float64 by type.
   */
  dtype?: GpuDtype;
  /** Backend name ("auto", "js", "reference", "wasm", or a registered one). Default "auto". */
  backend?: BackendName;
}

/**
 * The outputs LM training reads beside the loss (docs/lm-outputs.md), from the same pass:
 * crossEntropy's and linearCrossEntropy's results carry them. `F` is the element type, `R` the
 * reduction: per token (F) for "none", a number otherwise.
 */
export interface LmOutputFields<F extends FloatArray = FloatArray, R extends Reduction = Reduction> {
  /** With `accuracy`: the fraction of tokens not ignored whose argmax is the target ("mean"; / denominator when given), their count ("sum"), or 0/1 per token ("none"). */
  accuracy?: R extends "none" ? F : number;
  /** With `argmax`: (N) the predicted class of every row, the first index on ties. */
  argmax?: Int32Array;
  /** With `entropy`: −Σ p·log p per token, reduced as `accuracy` is (0 for ignored tokens under "none"). */
  entropy?: R extends "none" ? F : number;
  /** With zLoss > 0: the z-loss part Σ z·lse² of `loss`, reduced as the loss is. */
  zLoss?: R extends "none" ? F : number;
}

/**
 * The LM outputs a call asked for literally (`A` accuracy, `M` argmax, `E` entropy: `true`),
 * as present members; options only known as booleans leave them optional (LmOutputFields).
 */
export type LmOutputsOf<F extends FloatArray, R extends Reduction, A extends boolean, M extends boolean, E extends boolean> =
  ([A] extends [true] ? { accuracy: R extends "none" ? F : number } : unknown) &
  ([M] extends [true] ? { argmax: Int32Array } : unknown) &
  ([E] extends [true] ? { entropy: R extends "none" ? F : number } : unknown);

/**
 * The result of crossEntropy; `F` is Float32Array for float32 logits, Float64Array otherwise, and
 * `R` the reduction.
 */
export interface CrossEntropyOutput<F extends FloatArray = FloatArray, R extends Reduction = Reduction, Gr = F> extends LmOutputFields<F, R> {
  /** A number for "mean" and "sum"; the N per-token losses for "none". */
  loss: R extends "none" ? F : number;
  /** (N) log-sum-exp of the (capped) logits of each row. */
  lse: F;
  /**
   * (N, V) d loss / d logits when `grad` is set (for "none": of the sum of the per-token losses).
   * For GPU logits a GPU buffer in the logits' dtype: a new one (the caller owns it: `destroy()`
   * it), or with `inplace` the logits' own buffer; for 16-bit host logits a Uint16Array.
   */
  grad?: Gr;
}

/**
 * Options of sliceStats, mergeSliceStats and sliceGrad: one object can serve all three (each
 * reads what it needs). The loss options are those of crossEntropy, over the full vocabulary.
 */
export interface SliceOptions extends Pick<CrossEntropyOptions, "reduction" | "ignoreIndex" | "labelSmoothing" | "weight" | "zLoss" | "softcap"> {
  /** V, the full vocabulary (`weight` has length V). Required. */
  classes: number;
  /** The shard's first class (sliceStats, sliceGrad). */
  v0?: number;
  /** The end of the shard's classes, exclusive (sliceStats, sliceGrad). */
  v1?: number;
}

/** Per-row statistics of one vocabulary shard (sliceStats), each (N) float64; docs/slices.md defines them. */
export interface SliceStatistics {
  /** The shard's classes [v0, v1). */
  readonly v0: number;
  readonly v1: number;
  readonly max: Float64Array;
  readonly sumExp: Float64Array;
  readonly targetLogit: Float64Array;
  readonly weightedSum: Float64Array;
  readonly targetWeight: Float64Array;
}

/** The merge of every shard's statistics (mergeSliceStats): the loss of the full logits, and what sliceGrad needs. */
export interface MergedSliceStats {
  /** A number for "mean" and "sum"; the N per-token losses for "none". */
  readonly loss: number | Float64Array;
  /** (N) log-sum-exp of the full (capped) rows. */
  readonly lse: Float64Array;
  /** (N) the full row's max M. */
  readonly max: Float64Array;
  /** (N) S = Σ_j exp(c_j − M) over the full row. */
  readonly sumExp: Float64Array;
  /** (N) the coefficient of p_j in the gradient. */
  readonly coef: Float64Array;
  /** The gradient's factor: 1/D for mean, else 1. */
  readonly scale: number;
}

/** Hidden states (N, D) or the LM head's weight (V, D): row-major floats, or rows of numbers. */
export type MatrixInput = Float32Array | Float64Array | readonly number[] | readonly (readonly number[])[];

/** Options of linearCrossEntropy: those of crossEntropy (weight renamed classWeight), plus the head's bias and chunking. */
export interface LinearCrossEntropyOptions extends Pick<CrossEntropyOptions, "temperature" | "denominator" | "accuracy" | "argmax" | "entropy"> {
  /** V; needed only with flat probability targets (otherwise V = weight.length / D). Checked when given. */
  classes?: number;
  /** The LM head's bias, length V. Default none. */
  bias?: BiasInput;
  reduction?: Reduction;
  ignoreIndex?: number;
  labelSmoothing?: number;
  /** Per-class weights, length V (crossEntropy's `weight`). */
  classWeight?: Float32Array | Float64Array | readonly number[];
  zLoss?: number;
  softcap?: number;
  /** Also return gradHidden, gradWeight and (with a bias) gradBias. Default false. */
  grad?: boolean;
  /** Rows of logits per chunk (an integer >= 1). Default: from memoryBudget. */
  chunkSize?: number;
  /** Bytes for the chunk of logits; chunkSize = floor(memoryBudget / (V × element size)), at least 1. Default 4 MiB. */
  memoryBudget?: number;
  /**
   * Skip the gradient products of tiles (chunk rows × 256 classes) whose every |dL/dlogit|,
   * before the mean's 1/D, is below a threshold: true for 2^-12, or the threshold itself.
   * Default off (exact gradients). The loss and lse are never affected.
   */
  gradFilter?: boolean | number;
  /** Backend name. Default "auto". */
  backend?: BackendName;
}

/** A float32 operand of a webgpu engine's submission: a GPU buffer or a view of one (float32), or host values, uploaded by the call. */
export type GpuOperand<B extends GpuBufferLike = GpuBufferLike> = B | GpuBufferView<B> | Float32Array;

/**
 * Options of a webgpu engine's submitLinearCrossEntropy: linearCrossEntropy's, with the bias and
 * the upstream gradient as GPU operands, and without the LM outputs (the GPU linear head does not
 * compute accuracy, argmax or entropy).
 */
export interface GpuLinearCrossEntropyOptions<B extends GpuBufferLike = GpuBufferLike> extends Omit<LinearCrossEntropyOptions, "bias" | "accuracy" | "argmax" | "entropy"> {
  /** (V) the LM head's bias. Default none. */
  bias?: GpuOperand<B>;
  /**
   * (N) with reduction "none" and `grad`: the gradient of an outer loss with respect to each
   * per-token loss (an autograd framework's upstream gradient); the gradients are then those of
   * Σ_i upstream_i·L_i instead of Σ_i L_i. Default: all ones.
   */
  upstream?: GpuOperand<B>;
}

/** The result of linearCrossEntropy; `F` is the element type of `hidden`, `R` the reduction. */
export interface LinearCrossEntropyOutput<F extends FloatArray = FloatArray, R extends Reduction = Reduction> extends LmOutputFields<F, R> {
  /** A number for "mean" and "sum"; the N per-token losses for "none". */
  loss: R extends "none" ? F : number;
  /** (N) log-sum-exp of the (capped) logits of each row. */
  lse: F;
  /** (N, D) d loss / d hidden, when `grad` is set. */
  gradHidden?: F;
  /** (V, D) d loss / d weight, when `grad` is set. */
  gradWeight?: F;
  /** (V) d loss / d bias, when `grad` is set and a bias was given. */
  gradBias?: F;
  /** Bytes of temporary buffers the kernel allocated: its peak extra memory beyond inputs and outputs. */
  scratchBytes: number;
}

/** Options of distillationLoss. */
export interface DistillationOptions {
  /** V, the number of classes. Required for flat logits; checked against the rows otherwise. */
  classes?: number;
  /** "kl" KL(P‖Q) (default), "reverse-kl" KL(Q‖P), or "jsd" the generalized Jensen–Shannon divergence; P the teacher's, Q the student's softmax at `temperature`. */
  kind?: DistillationKind;
  /** β in [0, 1] of the JSD: M = β·P + (1−β)·Q; β = 0 is "kl", β = 1 is "reverse-kl". Default 0.5. Only with kind "jsd". */
  beta?: number;
  /** T > 0: both distributions are softmax(logits / T), and the loss is multiplied by T². Default 1. */
  temperature?: number;
  /** "batchmean" (default): the sum over the tokens not masked divided by their number; "sum"; "none": per token. */
  reduction?: DistillationReduction;
  /** Optional (N) targets: a token whose target equals ignoreIndex is masked (loss 0, zero gradient). Only the mask is read. */
  target?: Int32Array | Uint32Array | readonly number[];
  /** The target value that masks a token. Default -100. */
  ignoreIndex?: number;
  /** Also return d loss / d studentLogits. Default false. */
  grad?: boolean;
  /** Write the gradient into the student's logits instead of a new array. Needs grad and float logits. */
  inplace?: boolean;
  /** Backend name. Default "auto". */
  backend?: string;
}

/** The result of distillationLoss; `F` is Float32Array for float32 student logits, Float64Array otherwise. */
export interface DistillationOutput<F extends Float32Array | Float64Array = Float32Array | Float64Array> {
  /** A number for "batchmean" and "sum"; the N per-token losses for "none" (0 where masked). */
  loss: number | F;
  /** (N, V) d loss / d studentLogits when `grad` is set (for "none": of the sum of the per-token losses). */
  grad?: F;
}

/** distillationLoss' reduction (the table's `reduction` row checks crossEntropy's values; this one its own). */
export function distillationReduction(fn: string, x: unknown): DistillationReduction {
  if (x === undefined) return "batchmean";
  if (x !== "batchmean" && x !== "sum" && x !== "none") {
    throw new RangeError(`${fn}: options.reduction is ${JSON.stringify(x)}; expected "batchmean", "sum" or "none"`);
  }
  return x;
}

/**
 * What a crossEntropy call returns, from what its arguments say about it: `F` the element type,
 * `R` the reduction, `G` the grad option, `A`, `M`, `E` the accuracy, argmax and entropy options.
 * `grad` is present when G is `true`, optional when the call may or may not ask for it (G is
 * `boolean`); likewise accuracy, argmax and entropy (LmOutputsOf).
 */
export type CrossEntropyOutputOf<F extends FloatArray, R extends Reduction, G extends boolean, A extends boolean = false, M extends boolean = false, E extends boolean = false, Gr = F> = ([G] extends [true]
  ? CrossEntropyOutput<F, R, Gr> & { grad: Gr }
  : CrossEntropyOutput<F, R, Gr>) & LmOutputsOf<F, R, A, M, E>;

/**
 * What a linearCrossEntropy call returns: as CrossEntropyOutputOf, with gradHidden and gradWeight
 * present when G is `true`, and gradBias too when a bias `B` was given.
 */
export type LinearCrossEntropyOutputOf<
  F extends FloatArray, R extends Reduction, G extends boolean, B extends BiasInput | undefined, A extends boolean = false, M extends boolean = false, E extends boolean = false,
> = ([G] extends [true]
  ? LinearCrossEntropyOutput<F, R> & ([B] extends [BiasInput] ? { gradHidden: F; gradWeight: F; gradBias: F } : { gradHidden: F; gradWeight: F })
  : LinearCrossEntropyOutput<F, R>) & LmOutputsOf<F, R, A, M, E>;

/** The LM head's bias (length V). */
export type BiasInput = Float32Array | Float64Array | readonly number[];

/** A short description of a value for error messages. */
export function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (x instanceof Float32Array || x instanceof Float64Array || x instanceof Int32Array || x instanceof Uint32Array) {
    return `a ${x.constructor.name} of length ${x.length}`;
  }
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name}`;
  if (typeof x === "number") return String(x);
  return typeof x;
}

/** The calls that take options. */
export type OptionCall = "crossEntropy" | "linearCrossEntropy" | "softmax" | "perplexity" | "slices" | "distillationLoss";

const CE: readonly OptionCall[] = ["crossEntropy", "linearCrossEntropy", "perplexity", "slices"];

/** A number option: a TypeError when it is not a number (or NaN), a RangeError outside `ok`. */
function numberIn(ok: (x: number) => boolean, expected: string) {
  return (fn: string, name: string, x: unknown): number => {
    if (typeof x !== "number" || Number.isNaN(x)) throw new TypeError(`${fn}: options.${name} is ${describe(x)}; expected a number`);
    if (!ok(x)) throw new RangeError(`${fn}: options.${name} is ${x}; expected ${expected}`);
    return x;
  };
}

function boolean(fn: string, name: string, x: unknown): boolean {
  if (typeof x !== "boolean") throw new TypeError(`${fn}: options.${name} is ${describe(x)}; expected true or false`);
  return x;
}

function nonNegativeInteger(fn: string, name: string, x: unknown): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < 0) throw new RangeError(`${fn}: options.${name} is ${describe(x)}; expected an integer >= 0`);
  return x;
}

/**
 * The option table. Each row: the calls that take the option, its default (undefined: absent
 * unless given), and its check, which returns the validated value or throws. Options whose check
 * needs the shapes (weight, classWeight, bias against V; chunkSize and memoryBudget against N)
 * are checked here for their kind and by resolve.ts for their length.
 */
export const OPTIONS = {
  classes: {
    calls: ["crossEntropy", "linearCrossEntropy", "softmax", "perplexity", "slices", "distillationLoss"],
    default: undefined,
    check: (fn: string, name: string, x: unknown): number => {
      if (typeof x !== "number" || !Number.isInteger(x) || x < 1) throw new RangeError(`${fn}: options.${name} is ${describe(x)}; expected a positive integer`);
      return x;
    },
  },
  /** distillationLoss takes it too, with its own values (distillationReduction). */
  reduction: {
    calls: ["crossEntropy", "linearCrossEntropy", "slices", "distillationLoss"],
    default: "mean",
    check: (fn: string, name: string, x: unknown): Reduction => {
      if (x !== "mean" && x !== "sum" && x !== "none") {
        throw new RangeError(`${fn}: options.${name} is ${x === undefined ? "undefined" : JSON.stringify(x)}; expected "mean", "sum" or "none"`);
      }
      return x;
    },
  },
  ignoreIndex: {
    calls: [...CE, "distillationLoss"],
    default: -100,
    check: (fn: string, name: string, x: unknown): number => {
      if (typeof x !== "number" || !Number.isInteger(x)) throw new TypeError(`${fn}: options.${name} is ${describe(x)}; expected an integer`);
      return x;
    },
  },
  labelSmoothing: { calls: CE, default: 0, check: numberIn((x) => x >= 0 && x <= 1, "a number in [0, 1]") },
  weight: { calls: ["crossEntropy", "perplexity", "slices"], default: undefined, check: (_fn: string, _name: string, x: unknown): unknown => x },
  classWeight: { calls: ["linearCrossEntropy"], default: undefined, check: (_fn: string, _name: string, x: unknown): unknown => x },
  zLoss: { calls: CE, default: 0, check: numberIn((x) => x >= 0 && Number.isFinite(x), "a finite number >= 0") },
  softcap: {
    calls: ["crossEntropy", "linearCrossEntropy", "softmax", "perplexity", "slices"],
    default: undefined,
    check: numberIn((x) => x > 0 && Number.isFinite(x), "a finite number > 0 (leave it out for no cap)"),
  },
  temperature: { calls: ["crossEntropy", "linearCrossEntropy", "distillationLoss"], default: 1, check: numberIn((x) => x > 0 && Number.isFinite(x), "a finite number > 0") },
  denominator: { calls: ["crossEntropy", "linearCrossEntropy"], default: undefined, check: numberIn((x) => x > 0 && Number.isFinite(x), "a finite number > 0") },
  accuracy: { calls: ["crossEntropy", "linearCrossEntropy"], default: false, check: boolean },
  argmax: { calls: ["crossEntropy", "linearCrossEntropy"], default: false, check: boolean },
  entropy: { calls: ["crossEntropy", "linearCrossEntropy"], default: false, check: boolean },
  grad: { calls: ["crossEntropy", "linearCrossEntropy", "distillationLoss"], default: false, check: boolean },
  /** A vocabulary shard's classes [v0, v1) (sliceStats, sliceGrad; checked against classes by resolve.ts). */
  v0: { calls: ["slices"], default: undefined, check: nonNegativeInteger },
  v1: { calls: ["slices"], default: undefined, check: nonNegativeInteger },
  inplace: { calls: ["crossEntropy", "distillationLoss"], default: false, check: boolean },
  dtype: {
    calls: ["crossEntropy"],
    default: undefined,
    check: (fn: string, name: string, x: unknown): GpuDtype => {
      if (x !== "float32" && x !== "float16" && x !== "bfloat16") throw new RangeError(`${fn}: options.${name} is ${JSON.stringify(x)}; expected "float32", "float16" or "bfloat16"`);
      return x;
    },
  },
  kind: {
    calls: ["distillationLoss"],
    default: "kl",
    check: (fn: string, name: string, x: unknown): DistillationKind => {
      if (x !== "kl" && x !== "reverse-kl" && x !== "jsd") throw new RangeError(`${fn}: options.${name} is ${JSON.stringify(x)}; expected "kl", "reverse-kl" or "jsd"`);
      return x;
    },
  },
  beta: { calls: ["distillationLoss"], default: 0.5, check: numberIn((x) => x >= 0 && x <= 1, "a number in [0, 1]") },
  target: { calls: ["distillationLoss"], default: undefined, check: (_fn: string, _name: string, x: unknown): unknown => x },
  bias: { calls: ["linearCrossEntropy"], default: undefined, check: (_fn: string, _name: string, x: unknown): unknown => x },
  chunkSize: {
    calls: ["linearCrossEntropy"],
    default: undefined,
    check: (fn: string, name: string, x: unknown): number => {
      if (typeof x !== "number" || !Number.isInteger(x) || x < 1) {
        throw new RangeError(`${fn}: options.${name} is ${describe(x)}; expected an integer >= 1 (rows of logits per chunk)`);
      }
      return x;
    },
  },
  /** 4 MiB of logits per chunk by default: cache-friendly, and a small fraction of (N, V) at LM sizes. */
  memoryBudget: {
    calls: ["linearCrossEntropy"],
    default: 4 * 1024 * 1024,
    check: (fn: string, name: string, x: unknown): number => {
      if (typeof x !== "number" || !Number.isFinite(x) || x <= 0) throw new RangeError(`${fn}: options.${name} is ${describe(x)}; expected a finite number of bytes > 0`);
      return x;
    },
  },
  /** `true` stands for 2^-12 (Cut Cross-Entropy's bfloat16 figure); false or 0 is off. */
  gradFilter: {
    calls: ["linearCrossEntropy"],
    default: 0,
    check: (fn: string, name: string, x: unknown): number => {
      if (x === true) return 2 ** -12;
      if (x === false) return 0;
      if (typeof x !== "number") throw new TypeError(`${fn}: options.${name} is ${describe(x)}; expected true, false or a threshold number`);
      if (!Number.isFinite(x) || x < 0) throw new RangeError(`${fn}: options.${name} is ${x}; expected true, false or a finite threshold >= 0`);
      return x;
    },
  },
  backend: {
    calls: ["crossEntropy", "linearCrossEntropy", "softmax", "perplexity", "distillationLoss"],
    default: "auto",
    check: (fn: string, name: string, x: unknown): string => {
      if (typeof x !== "string") throw new TypeError(`${fn}: options.${name} is ${describe(x)}; expected a backend name`);
      return x;
    },
  },
} as const satisfies Record<string, { calls: readonly OptionCall[]; default: unknown; check: (fn: string, name: string, x: unknown) => unknown }>;

export type OptionName = keyof typeof OPTIONS;
