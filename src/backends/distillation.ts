/**
 * The distillation kernel contract: what the api hands to a backend's distillation kernel after
 * validation, what the kernel returns, and the O(N) pieces every backend shares.
 *
 * Shapes are written (N, V): N rows (tokens), V classes (vocabulary), row-major.
 */
import type { FloatArray } from "./types.js";

/** Which divergence of the student's distribution Q from the teacher's P. */
export type DistillationKind = "kl" | "reverse-kl" | "jsd";

/** How per-token divergences are combined: "batchmean" divides their sum by the tokens not masked. */
export type DistillationReduction = "batchmean" | "sum" | "none";

/**
 * The distillation options, resolved once by the api. Invariants: temperature finite and > 0;
 * 0 <= beta <= 1 (read only when kind is "jsd").
 */
export interface DistillationSpec {
  readonly kind: DistillationKind;
  /** β of the generalized JSD: M = β·P + (1-β)·Q; β = 0 is "kl" and β = 1 is "reverse-kl". */
  readonly beta: number;
  /** T: both distributions are softmax(logits / T), and the loss is multiplied by T². */
  readonly temperature: number;
  readonly reduction: DistillationReduction;
}

/**
 * Validated, normalised arguments of one distillation call.
 *
 * Invariants the api guarantees (kernels rely on them and never re-check):
 * - `student.length === teacher.length === n * v`, n >= 1, v >= 1;
 * - `target`, when given, has length n with entries 0 for a token that counts and -1 for a
 *   masked one (the api maps the caller's ignoreIndex to -1);
 * - `gradOut`, when given, has length n * v and the same element type as `student`; it may be
 *   `student` itself (inplace), so a kernel must read each element before it writes it.
 */
export interface DistillationArgs {
  /** (N, V) the student's logits. Read-only unless `gradOut === student`. */
  readonly student: FloatArray;
  /** (N, V) the teacher's logits, read-only. */
  readonly teacher: FloatArray;
  readonly n: number;
  readonly v: number;
  /** (N) -1 for a masked token, or null when every token counts. */
  readonly target: Int32Array | null;
  readonly spec: DistillationSpec;
  /** (N, V) where to write d loss / d student, or null for no gradient. */
  readonly gradOut: FloatArray | null;
}

/** What a distillation kernel returns. */
export interface DistillationResult {
  /** The reduced loss (NaN for "none", where the api returns rowLoss). NaN for batchmean when every token is masked. */
  readonly loss: number;
  /** (N) per-token losses T²·D(P‖Q) (0 for masked tokens). */
  readonly rowLoss: Float64Array;
}

/** The number of tokens that count: what "batchmean" divides by (N without a target). */
export function distillationCount(target: Int32Array | null, n: number): number {
  if (target === null) return n;
  let k = 0;
  for (let i = 0; i < n; i++) if (target[i]! >= 0) k++;
  return k;
}

/** The divergence a spec computes: the generalized JSD at β = 0 and β = 1 is a plain KL. */
export function effectiveKind(spec: DistillationSpec): DistillationKind {
  if (spec.kind !== "jsd") return spec.kind;
  if (spec.beta === 0) return "kl";
  if (spec.beta === 1) return "reverse-kl";
  return "jsd";
}

/** Sum the per-token losses in a fixed order, in float64, and divide for batchmean. */
export function reduceDistillation(rowLoss: Float64Array, reduction: DistillationReduction, count: number): number {
  if (reduction === "none") return Number.NaN; // unused: the api returns rowLoss itself
  let s = 0;
  for (let i = 0; i < rowLoss.length; i++) s += rowLoss[i]!;
  return reduction === "batchmean" ? s / count : s;
}
