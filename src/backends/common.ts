/**
 * Small pieces every backend shares: the mean's denominator, the batch reduction, and the
 * executor of a backend whose kernels run on the calling thread. The reductions are O(N) and
 * independent of how rows are split across threads, so results do not depend on the thread count.
 */
import type {
  Backend,
  CrossEntropyArgs,
  CrossEntropyResult,
  Executor,
  LinearCrossEntropyArgs,
  LinearCrossEntropyResult,
  LossSpec,
  MemoryStats,
  Reduction,
  SyncKernels,
} from "./types.js";

/**
 * D, the divisor of the "mean" reduction, as PyTorch defines it:
 * index targets: Σ w[y_i] over tokens that are not ignored (the count when unweighted);
 * probability targets: N.
 */
export function meanDenominator(target: Int32Array | null, classWeight: Float64Array | null, n: number): number {
  if (target === null) return n;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const y = target[i]!;
    if (y < 0) continue; // ignored
    d += classWeight === null ? 1 : classWeight[y]!;
  }
  return d;
}

/** W = Σ_j w_j over the V classes (V when unweighted). */
export function classWeightSum(spec: LossSpec, v: number): number {
  const w = spec.classWeight;
  if (w === null) return v;
  let s = 0;
  for (let j = 0; j < v; j++) s += w[j]!;
  return s;
}

/** The factor the gradient rows carry: 1/D for mean (Infinity when D = 0, as in PyTorch), else 1. */
export function gradScale(reduction: Reduction, d: number): number {
  return reduction === "mean" ? 1 / d : 1;
}

/** Reduce per-row losses in a fixed order, in float64. */
export function reduceLoss(rowLoss: Float64Array, reduction: Reduction, d: number): number {
  if (reduction === "none") return Number.NaN; // unused: the api returns rowLoss itself
  let s = 0;
  for (let i = 0; i < rowLoss.length; i++) s += rowLoss[i]!;
  return reduction === "mean" ? s / d : s;
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
    createExecutor: async () => syncExecutor(name, kernels),
  };
}
