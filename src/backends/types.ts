/**
 * The kernel contract: what the api hands to a backend after validation, and what a backend
 * must fill in. Every backend implements this one interface; the api never computes, kernels
 * never validate.
 *
 * Shapes are written (N, V): N rows (tokens), V classes (vocabulary), row-major.
 */

/** Float storage accepted and produced by kernels. */
export type FloatArray = Float32Array | Float64Array;

/** Reduction codes, as the api resolved them. */
export type Reduction = "mean" | "sum" | "none";

/**
 * Validated, normalised arguments of one cross-entropy call.
 *
 * Invariants the api guarantees (kernels rely on them and never re-check):
 * - `logits.length === n * v`, n >= 1, v >= 1.
 * - exactly one of `target` and `probs` is non-null;
 * - every `target[i]` is an integer in [0, v), or -1 for an ignored token (the api maps the
 *   caller's ignoreIndex, whatever integer it is, to -1);
 * - `probs.length === n * v` when given;
 * - `weight`, when given, has length v and non-negative finite entries;
 * - 0 <= labelSmoothing <= 1, zLoss >= 0, softcap > 0 or 0 for "off";
 * - `gradOut`, when given, has length n * v and the same element type as `logits`;
 *   it may be `logits` itself (inplace), so a kernel must read each element before it writes it.
 */
export interface CrossEntropyArgs {
  /** (N, V) logits. Read-only unless `gradOut === logits`. */
  readonly logits: FloatArray;
  readonly n: number;
  readonly v: number;
  /** (N) class indices, -1 for ignored tokens; or null for probability targets. */
  readonly target: Int32Array | null;
  /** (N, V) target probabilities, or null for index targets. */
  readonly probs: FloatArray | null;
  readonly labelSmoothing: number;
  /** (V) class weights, or null for all ones. */
  readonly weight: Float64Array | null;
  readonly zLoss: number;
  /** s in s·tanh(x/s); 0 means no soft-capping. */
  readonly softcap: number;
  readonly reduction: Reduction;
  /** (N, V) where to write d loss / d logits, or null for no gradient. */
  readonly gradOut: FloatArray | null;
}

/** What a kernel returns. Per-row values are float64; the api casts them to the input's type. */
export interface CrossEntropyResult {
  /** The reduced loss: mean or sum of `rowLoss` (mean divides by the weight sum D). NaN for mean with D = 0. */
  readonly loss: number;
  /** (N) per-token losses L_i (0 for ignored tokens). */
  readonly rowLoss: Float64Array;
  /** (N) log-sum-exp of the (capped) logits of each row. */
  readonly lse: Float64Array;
}

/**
 * Validated, normalised arguments of one fused linear cross-entropy call: the logits are
 * `hidden (N, D) · weightᵀ (D, V) + bias (V)`, and the loss is that of `CrossEntropyArgs` on them.
 * Kernels never hold the (N, V) logits: they work in chunks of `chunkRows` rows.
 *
 * Invariants the api guarantees (kernels rely on them and never re-check):
 * - `hidden.length === n * d`, `weight.length === v * d`, n, d, v >= 1;
 * - `hidden`, `weight`, `bias` and the three gradient outputs share one element type;
 * - `bias`, when given, has length v;
 * - `target`/`probs`, `labelSmoothing`, `zLoss`, `softcap`, `reduction`: as in CrossEntropyArgs,
 *   with `classWeight` in the role of CrossEntropyArgs.weight (length v);
 * - `chunkRows` is an integer in [1, n];
 * - `gradFilter` >= 0 (0: off; else skip gradient tiles whose every |dL/dlogit| < gradFilter·scale);
 * - the gradient outputs are all null (no gradient) or all given, zero-filled, with lengths
 *   n·d, v·d and v (`gradBias` is null when `bias` is null).
 */
export interface LinearCrossEntropyArgs {
  /** (N, D) hidden states, read-only. */
  readonly hidden: FloatArray;
  /** (V, D) the LM head's weight, as in PyTorch's nn.Linear; read-only. */
  readonly weight: FloatArray;
  /** (V) the LM head's bias, or null. */
  readonly bias: FloatArray | null;
  readonly n: number;
  readonly d: number;
  readonly v: number;
  /** (N) class indices, -1 for ignored tokens; or null for probability targets. */
  readonly target: Int32Array | null;
  /** (N, V) target probabilities, or null for index targets. */
  readonly probs: FloatArray | null;
  readonly labelSmoothing: number;
  /** (V) class weights, or null for all ones. */
  readonly classWeight: Float64Array | null;
  readonly zLoss: number;
  readonly softcap: number;
  readonly reduction: Reduction;
  /** Rows of logits per chunk: the kernel's scratch is about chunkRows × V elements. */
  readonly chunkRows: number;
  /** Gradient filter threshold on |dL/dlogit| before the mean's 1/D; 0 disables it. */
  readonly gradFilter: number;
  /** (N, D) where to write d loss / d hidden, or null. */
  readonly gradHidden: FloatArray | null;
  /** (V, D) where to write d loss / d weight, or null. */
  readonly gradWeight: FloatArray | null;
  /** (V) where to write d loss / d bias, or null. */
  readonly gradBias: FloatArray | null;
}

/** What a fused linear cross-entropy kernel returns. */
export interface LinearCrossEntropyResult extends CrossEntropyResult {
  /** Bytes of temporary buffers the kernel allocated (its peak extra memory beyond inputs and outputs). */
  readonly scratchBytes: number;
}

/** A synchronous backend: one object, one method per kernel. */
export interface Backend {
  readonly name: string;
  crossEntropy(args: CrossEntropyArgs): CrossEntropyResult;
  /** Fused LM head + cross-entropy; optional: backends without it are rejected by linearCrossEntropy. */
  linearCrossEntropy?(args: LinearCrossEntropyArgs): LinearCrossEntropyResult;
}

/**
 * A vocabulary slice: columns [v0, v1) of the V classes, for the slice kernels (rowStats,
 * sliceBackward). `logits`, `probs` and `gradOut` of the call hold N rows of `stride` elements,
 * element 0 of each row being class `col0`: full rows are `{ stride: V, col0: 0 }`; a shard that
 * holds only its own columns passes `{ stride: v1 - v0, col0: v0 }`. `target` and `weight` always
 * index the full vocabulary. 0 <= v0 <= v1 <= V (an empty slice is allowed).
 */
export interface VocabSlice {
  readonly v0: number;
  readonly v1: number;
  readonly col0: number;
  readonly stride: number;
}

/**
 * Per-row statistics of the (capped) logits c over one vocabulary slice, each (N) float64:
 * what a vocabulary shard contributes to the full row's loss (see docs/slices.md).
 */
export interface SliceStats {
  /** max_j c_j over the slice: −Infinity for an empty slice; NaN when a logit is NaN. */
  readonly max: Float64Array;
  /** Σ_j exp(c_j − max) over the slice (0 when max is −Infinity). */
  readonly sumExp: Float64Array;
  /** c_y when the row's target y lies in the slice, else 0 (also for ignored rows and probability targets). */
  readonly targetLogit: Float64Array;
  /** Σ_j w_j·c_j (index targets with label smoothing; 0 for ignored rows) or Σ_j w_j·t'_j·c_j (probabilities), else 0. */
  readonly weightedSum: Float64Array;
  /** Σ_j w_j·t'_j (probabilities, t' = (1−ε)·t + ε/V with the full V), else 0. */
  readonly targetWeight: Float64Array;
}

/** The exact merge of every slice's statistics (common.ts mergeStats): the fused kernel's result and what sliceBackward needs. */
export interface MergedStats extends CrossEntropyResult {
  /** (N) M, the row's max over all slices. */
  readonly max: Float64Array;
  /** (N) S = Σ_j exp(c_j − M) over the full row; lse = M + log S. */
  readonly sumExp: Float64Array;
  /** (N) A, the coefficient of p_j in dL/dc_j (index: (1−ε)·w_y + (ε/V)·W + 2z·lse; probabilities: Σ w_k·t'_k + 2z·lse); 0 for ignored rows. */
  readonly coef: Float64Array;
  /** W = Σ_j w_j over the full V. */
  readonly wSum: number;
  /** The gradient's factor: 1/D for mean, else 1. */
  readonly scale: number;
}
