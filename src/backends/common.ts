/**
 * Small pieces every backend shares: the mean's denominator, the batch reduction, and the
 * executor of a backend whose kernels run on the calling thread. The reductions are O(N) and
 * independent of how rows are split across threads, so results do not depend on the thread count.
 */
import type {
  Backend,
  CrossEntropyArgs,
  CrossEntropyResult,
  DistillationArgs,
  DistillationKind,
  DistillationReduction,
  DistillationResult,
  DistillationSpec,
  Executor,
  LinearCrossEntropyArgs,
  LinearCrossEntropyResult,
  LossSpec,
  MemoryStats,
  MergedStats,
  Reduction,
  SliceStats,
  SyncKernels,
} from "./types.js";

/**
 * D, the divisor of the "mean" reduction: the caller's `denominator` when given, else as PyTorch
 * defines it: index targets: Σ w[y_i] over tokens that are not ignored (the count when
 * unweighted); probability targets: N.
 */
export function meanDenominator(target: Int32Array | null, spec: LossSpec, n: number): number {
  if (spec.denominator !== null) return spec.denominator;
  const classWeight = spec.classWeight;
  if (target === null) return n;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const y = target[i]!;
    if (y < 0) continue; // ignored
    d += classWeight === null ? 1 : classWeight[y]!;
  }
  return d;
}

/** A loss spec with every option off ("mean", no smoothing, weights, z-loss, cap or outputs), then `set`: for callers inside the library and its tests. */
export function lossSpec(set: Partial<LossSpec> = {}): LossSpec {
  return {
    reduction: "mean",
    labelSmoothing: 0,
    classWeight: null,
    zLoss: 0,
    softcap: 0,
    temperature: 1,
    denominator: null,
    argmax: false,
    accuracy: false,
    entropy: false,
    ...set,
  };
}

/** W = Σ_j w_j over the V classes (V when unweighted). */
export function classWeightSum(spec: LossSpec, v: number): number {
  const w = spec.classWeight;
  if (w === null) return v;
  let s = 0;
  for (let j = 0; j < v; j++) s += w[j]!;
  return s;
}

/**
 * The factor the gradient rows carry: 1/D for mean, else 1. D = 0 with a token that counts means
 * that token's class weight is 0: PyTorch's backward then multiplies w_y·(1/D) = 0·∞ at its target,
 * so every counted row's gradient is NaN. The factor is NaN there (ignored rows stay zero).
 */
export function gradScale(reduction: Reduction, d: number): number {
  if (reduction !== "mean") return 1;
  return d === 0 ? Number.NaN : 1 / d;
}

/**
 * True when a crossEntropy spec asks for what only the fused row kernels compute: temperature ≠ 1,
 * argmax, accuracy or entropy (the vocabulary-slice kernels and the webgpu kernel do not).
 */
export function lmOnly(spec: LossSpec): boolean {
  return spec.temperature !== 1 || wantsArgmax(spec) || spec.entropy;
}

/** True when the kernels must report each row's argmax (for argmax itself, or for accuracy). */
export function wantsArgmax(spec: LossSpec): boolean {
  return spec.argmax || spec.accuracy;
}

/** The outputs LM training reads beside the loss, reduced as the loss is (see docs/lm-outputs.md). */
export interface LmOutputs {
  /** Σ [argmax = y] / K ("mean"), the count ("sum"), or 0/1 per token ("none"). */
  accuracy?: number | Float64Array;
  argmax?: Int32Array;
  /** Σ H_i / K, Σ H_i, or H_i per token (0 for ignored tokens). */
  entropy?: number | Float64Array;
  /** The z-loss part of the loss, Σ z·lse_i² / D, Σ z·lse_i², or per token; only when z > 0. */
  zLoss?: number | Float64Array;
}

/**
 * Reduce the per-row outputs of a kernel's result: over the tokens not ignored (all N with
 * probability targets), in row order. Accuracy and entropy are unweighted: "mean" divides by
 * their count K, or by the caller's denominator; the z-loss part divides by the loss's own D.
 */
export function lmOutputs(fn: string, target: Int32Array | null, spec: LossSpec, n: number, result: CrossEntropyResult): LmOutputs {
  const out: LmOutputs = {};
  if ((wantsArgmax(spec) && result.argmax === undefined) || (spec.entropy && result.entropy === undefined)) {
    throw new Error(`${fn}: the backend returned no argmax or entropy; expected a kernel that reports the outputs options.argmax, accuracy and entropy ask for`);
  }
  const counts = (i: number): boolean => target === null || target[i]! >= 0;
  const reduce = (rows: Float64Array, divisor: number): number | Float64Array => {
    if (spec.reduction === "none") return rows;
    let s = 0;
    for (let i = 0; i < n; i++) s += rows[i]!;
    return spec.reduction === "mean" ? s / divisor : s;
  };
  let k = spec.denominator ?? 0;
  if (spec.denominator === null) for (let i = 0; i < n; i++) if (counts(i)) k++;
  if (spec.argmax) out.argmax = result.argmax!;
  if (spec.accuracy) {
    const hit = new Float64Array(n);
    for (let i = 0; i < n; i++) if (counts(i) && result.argmax![i] === target![i]) hit[i] = 1;
    out.accuracy = reduce(hit, k);
  }
  if (spec.entropy) {
    const h = new Float64Array(n);
    for (let i = 0; i < n; i++) if (counts(i)) h[i] = result.entropy![i]!;
    out.entropy = reduce(h, k);
  }
  if (spec.zLoss > 0) {
    const zr = new Float64Array(n);
    for (let i = 0; i < n; i++) if (counts(i)) zr[i] = spec.zLoss * result.lse[i]! * result.lse[i]!;
    out.zLoss = reduce(zr, meanDenominator(target, spec, n));
  }
  return out;
}

/**
 * Reduce per-row losses in a fixed order, in float64. The mean with D = 0 follows PyTorch:
 * without z-loss, F.cross_entropy divides the target term Σ w_y·(lse − c_y) = 0 by D (0/0), so the
 * loss is NaN whatever the smoothing term; with z-loss, the whole sum is divided by D (+Infinity
 * for a positive sum, NaN for 0 or no counted token).
 */
export function reduceLoss(rowLoss: Float64Array, spec: Pick<LossSpec, "reduction" | "zLoss">, d: number): number {
  const { reduction, zLoss } = spec;
  if (reduction === "none") return Number.NaN; // unused: the api returns rowLoss itself
  if (reduction === "mean" && d === 0 && !(zLoss > 0)) return Number.NaN;
  let s = 0;
  for (let i = 0; i < rowLoss.length; i++) s += rowLoss[i]!;
  return reduction === "mean" ? s / d : s;
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

/** What the merge needs that does not depend on the logits, computed once for the whole V. */
export interface SliceConstants {
  /** W = Σ_j w_j over the full V. */
  readonly wSum: number;
  /** D, the mean's divisor. */
  readonly d: number;
  /** The gradient's factor (gradScale). */
  readonly scale: number;
}

/** What the merge of slice statistics reads of a call. */
export type MergeArgs = Pick<CrossEntropyArgs, "n" | "v" | "target" | "spec">;

function sliceConstants(args: MergeArgs): SliceConstants {
  const { v, n, target, spec } = args;
  const d = meanDenominator(target, spec, n);
  return { wSum: classWeightSum(spec, v), d, scale: gradScale(spec.reduction, d) };
}

/** Zeroed statistics for n rows: five (N) views of one (5, N) float64 block, in SliceStats' field order. */
export function allocSliceStats(n: number): SliceStats {
  const b = new Float64Array(5 * n);
  return {
    max: b.subarray(0, n),
    sumExp: b.subarray(n, 2 * n),
    targetLogit: b.subarray(2 * n, 3 * n),
    weightedSum: b.subarray(3 * n, 4 * n),
    targetWeight: b.subarray(4 * n, 5 * n),
  };
}

/** Statistics of no classes yet for n rows (max −Infinity, sums 0): the start of foldStats. */
export function emptySliceStats(n: number): SliceStats {
  const s = allocSliceStats(n);
  s.max.fill(-Infinity);
  return s;
}

/**
 * Fold the statistics of one more vocabulary slice into running ones (`acc`, updated in place),
 * for slices taken in a fixed order: the maxes combine (NaN propagates), each sum of exps is
 * rescaled to the new max (a slice whose max is −Infinity adds nothing), the linear terms add.
 * `mergeStats(args, [acc])` then gives each row's loss, lse and merged rows, as mergeStats over
 * all the slices would up to rounding; the same slices in the same order give the same bits.
 */
export function foldStats(acc: SliceStats, part: SliceStats): void {
  const n = acc.max.length;
  for (let i = 0; i < n; i++) {
    const a = acc.max[i]!;
    const b = part.max[i]!;
    const m = Math.max(a, b);
    let sum = 0;
    if (a !== -Infinity) sum += acc.sumExp[i]! * Math.exp(a - m);
    if (b !== -Infinity) sum += part.sumExp[i]! * Math.exp(b - m);
    acc.max[i] = m;
    acc.sumExp[i] = sum;
    acc.targetLogit[i]! += part.targetLogit[i]!;
    acc.weightedSum[i]! += part.weightedSum[i]!;
    acc.targetWeight[i]! += part.targetWeight[i]!;
  }
}

/**
 * Merge the statistics of K vocabulary slices that together cover [0, V) once each, in the
 * order given: M = max of the maxes, S = Σ_k s_k·exp(m_k − M) and the linear terms summed slice
 * by slice in float64, so the same slices in the same order give the same bits. Then the fused
 * kernel's loss from the sums (formulas in js/crossEntropy.ts), with lse = M + log S:
 *   index:  L = (1-ε)·w_y·(lse - c_y) + (ε/V)·(W·lse - Σ_j w_j·c_j) + z·lse²
 *   probs:  L = lse·Σ_j w_j·t'_j - Σ_j w_j·t'_j·c_j + z·lse²
 * Ignored rows keep their lse and have loss 0. `k` may be passed when the caller has it already.
 */
export function mergeStats(args: MergeArgs, slices: readonly SliceStats[], k: SliceConstants = sliceConstants(args)): MergedStats {
  const { n, v, target } = args;
  const { labelSmoothing: eps, classWeight: weight, zLoss: z } = args.spec;
  const { wSum, d, scale } = k;
  const rowLoss = new Float64Array(n);
  const lse = new Float64Array(n);
  const max = new Float64Array(n);
  const sumExp = new Float64Array(n);
  const coef = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (const sl of slices) m = Math.max(m, sl.max[i]!); // NaN propagates
    let sum = 0;
    let cy = 0;
    let wc = 0;
    let wt = 0;
    for (const sl of slices) {
      const mk = sl.max[i]!;
      if (mk !== -Infinity) sum += sl.sumExp[i]! * Math.exp(mk - m);
      cy += sl.targetLogit[i]!;
      wc += sl.weightedSum[i]!;
      wt += sl.targetWeight[i]!;
    }
    // +Infinity: lse is +Infinity, but the softmax is inf − inf, so the loss and gradient are NaN.
    const l = m === -Infinity ? -Infinity : m === Infinity ? NaN : m + Math.log(sum);
    max[i] = m;
    sumExp[i] = sum;
    lse[i] = m === Infinity ? Infinity : l;
    let loss: number;
    let a: number;
    if (target !== null) {
      const y = target[i]!;
      if (y < 0) continue; // ignored: loss 0, coef 0
      const wy = weight === null ? 1 : weight[y]!;
      loss = (1 - eps) * wy * (l - cy);
      a = (1 - eps) * wy;
      if (eps > 0) {
        loss += (eps / v) * (wSum * l - wc);
        a += (eps / v) * wSum;
      }
    } else {
      loss = l * wt - wc;
      a = wt;
    }
    if (z > 0) {
      loss += z * l * l;
      a += 2 * z * l;
    }
    rowLoss[i] = loss;
    coef[i] = a;
  }
  return { loss: reduceLoss(rowLoss, args.spec, d), rowLoss, lse, max, sumExp, coef, wSum, scale };
}

/** Elements one executor block may hold: 2^28 float32, 1 GiB (wasm32 memory is 4 GiB in all). */
export const MAX_BLOCK_ELEMENTS = 2 ** 28;

/**
 * The executor of a backend whose kernels run on the calling thread (reference, js): its memory
 * is ordinary Float32Arrays, remembered while they are live so that freed ones are recognised;
 * calls run one at a time, synchronously, inside the returned promise.
 */
function syncExecutor(name: string, kernels: SyncKernels): Executor {
  let live = new WeakSet<ArrayBufferLike>();
  const freed = new WeakSet<ArrayBufferLike>();
  let disposed = false;
  const check = (): void => {
    if (disposed) throw new Error(`${name} executor: disposed`);
  };
  return {
    name,
    threads: 1,
    maxAlloc: MAX_BLOCK_ELEMENTS,
    supports: () => true,
    alloc(n: number): Float32Array {
      check();
      const a = new Float32Array(n);
      live.add(a.buffer);
      return a;
    },
    free(buffer: Float32Array): boolean {
      if (!live.has(buffer.buffer)) return false;
      live.delete(buffer.buffer);
      freed.add(buffer.buffer);
      return true;
    },
    owns: (x) => live.has(x.buffer),
    freed: (x) => freed.has(x.buffer) && !live.has(x.buffer),
    async crossEntropy(args: CrossEntropyArgs): Promise<CrossEntropyResult> {
      check();
      return kernels.crossEntropy(args);
    },
    async linearCrossEntropy(args: LinearCrossEntropyArgs): Promise<LinearCrossEntropyResult> {
      check();
      return kernels.linearCrossEntropy(args);
    },
    async distillation(args: DistillationArgs): Promise<DistillationResult> {
      check();
      return kernels.distillation(args);
    },
    memoryStats: (): MemoryStats => ({ bytesInUse: 0, peakBytes: 0 }),
    resetPeakMemory: () => undefined,
    dispose(): void {
      disposed = true;
      live = new WeakSet();
    },
  };
}

/** A backend whose kernels run on the calling thread, for every call (reference, js): sync kernels and their executor. */
export function syncBackend(name: string, priority: number, kernels: SyncKernels): Backend {
  return {
    name,
    priority,
    supports: () => true,
    crossEntropy: kernels.crossEntropy,
    linearCrossEntropy: kernels.linearCrossEntropy,
    distillation: kernels.distillation,
    ...(kernels.rowStats !== undefined ? { rowStats: kernels.rowStats } : {}),
    ...(kernels.sliceBackward !== undefined ? { sliceBackward: kernels.sliceBackward } : {}),
    createExecutor: async () => syncExecutor(name, kernels),
  };
}
