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

/** A synchronous backend: one object, one method per kernel. */
export interface Backend {
  readonly name: string;
  crossEntropy(args: CrossEntropyArgs): CrossEntropyResult;
}
