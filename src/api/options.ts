/**
 * Public types and defaults of the cross-entropy API (design.md §2).
 */
import type { Reduction } from "../backends/types.js";

export type { Reduction };

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
  /** Also return d loss / d logits. Default false. */
  grad?: boolean;
  /** Write the gradient into the logits buffer instead of a new array. Needs grad and float logits. */
  inplace?: boolean;
  /** Backend name ("auto", "js", "reference", or a registered one). Default "auto". */
  backend?: string;
}

/** The result of crossEntropy; `F` is Float32Array for float32 logits, Float64Array otherwise. */
export interface CrossEntropyOutput<F extends Float32Array | Float64Array = Float32Array | Float64Array> {
  /** A number for "mean" and "sum"; the N per-token losses for "none". */
  loss: number | F;
  /** (N) log-sum-exp of the (capped) logits of each row. */
  lse: F;
  /** (N, V) d loss / d logits when `grad` is set (for "none": of the sum of the per-token losses). */
  grad?: F;
}

export const DEFAULTS = {
  reduction: "mean",
  ignoreIndex: -100,
  labelSmoothing: 0,
  zLoss: 0,
  softcap: 0,
  grad: false,
  inplace: false,
  backend: "auto",
} as const;

/** Hidden states (N, D) or the LM head's weight (V, D): row-major floats, or rows of numbers. */
export type MatrixInput = Float32Array | Float64Array | readonly number[] | readonly (readonly number[])[];

/** Options of linearCrossEntropy: those of crossEntropy (weight renamed classWeight), plus the head's bias and chunking. */
export interface LinearCrossEntropyOptions {
  /** V; needed only with flat probability targets (otherwise V = weight.length / D). Checked when given. */
  classes?: number;
  /** The LM head's bias, length V. Default none. */
  bias?: Float32Array | Float64Array | readonly number[];
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
  backend?: string;
}

/** The result of linearCrossEntropy; `F` is the element type of `hidden`. */
export interface LinearCrossEntropyOutput<F extends Float32Array | Float64Array = Float32Array | Float64Array> {
  /** A number for "mean" and "sum"; the N per-token losses for "none". */
  loss: number | F;
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

export const LINEAR_DEFAULTS = {
  /** 4 MiB of logits per chunk: cache-friendly, and a small fraction of (N, V) at LM sizes. */
  memoryBudget: 4 * 1024 * 1024,
  /** The threshold `gradFilter: true` stands for (Cut Cross-Entropy's bfloat16 figure). */
  gradFilter: 2 ** -12,
} as const;
