/**
 * The kernel contract: what the api hands to a backend after validation, and what a backend
 * must fill in. Every backend is an executor (asynchronous, with its own memory); backends that
 * can run on the calling thread also expose synchronous kernels for the synchronous API. The api
 * never computes, kernels never validate.
 *
 * Shapes are written (N, V): N rows (tokens), V classes (vocabulary), row-major.
 */

/** Float storage accepted and produced by kernels. */
export type FloatArray = Float32Array | Float64Array;

/** How per-token losses are combined. */
export type Reduction = "mean" | "sum" | "none";

/**
 * The loss options, resolved once by the api (src/api/resolve.ts) and passed unchanged to every
 * kernel, down to the wasm parameter struct (src/backends/wasm/abi.ts): one name per concept.
 *
 * Invariants: 0 <= labelSmoothing <= 1; zLoss finite and >= 0; softcap finite and > 0, or 0
 * for "off"; temperature finite and > 0; denominator finite and > 0 (only with reduction
 * "mean") or null; `classWeight`, when given, has length V and finite
 * entries >= 0. The caller's ignoreIndex is not here: the api maps ignored targets to -1 (see
 * CrossEntropyArgs.target).
 */
export interface LossSpec {
  readonly reduction: Reduction;
  /** ε: the target becomes (1-ε)·onehot + ε/V. */
  readonly labelSmoothing: number;
  /** (V) per-class weights w, or null for all ones (crossEntropy's `weight` option). */
  readonly classWeight: Float64Array | null;
  /** z: adds z·lse² per token. */
  readonly zLoss: number;
  /** s in s·tanh(x/s); 0 means no soft-capping. */
  readonly softcap: number;
  /** τ: the softmax sees c = softcap(x)/τ. 1 for none. */
  readonly temperature: number;
  /** d: "mean" divides by d instead of the weight sum of the tokens not ignored; null for that sum. */
  readonly denominator: number | null;
  /** Report the argmax of each row (CrossEntropyResult.argmax). */
  readonly argmax: boolean;
  /** Report the accuracy: [argmax = target] (the kernels then also return argmax). Index targets only. */
  readonly accuracy: boolean;
  /** Report the entropy of each row's softmax (CrossEntropyResult.entropy). */
  readonly entropy: boolean;
}

/**
 * Validated, normalised arguments of one cross-entropy call.
 *
 * Invariants the api guarantees (kernels rely on them and never re-check):
 * - `logits.length === n * v`, n >= 1, v >= 1.
 * - exactly one of `target` and `probs` is non-null;
 * - every `target[i]` is an integer in [0, v), or -1 for an ignored token (the api maps the
 *   caller's ignoreIndex, whatever integer it is, to -1);
 * - `probs.length === n * v` when given, entries finite and >= 0;
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
  readonly spec: LossSpec;
  /** (N, V) where to write d loss / d logits, or null for no gradient. */
  readonly gradOut: FloatArray | null;
}

/** What a kernel returns. Per-row values are float64; the api casts them to the input's type. */
export interface CrossEntropyResult {
  /** The reduced loss: mean or sum of `rowLoss` (mean divides by the weight sum D). For mean with D = 0: reduceLoss in common.ts. */
  readonly loss: number;
  /** (N) per-token losses L_i (0 for ignored tokens). */
  readonly rowLoss: Float64Array;
  /** (N) log-sum-exp of the (capped) logits of each row. */
  readonly lse: Float64Array;
  /** (N) arg max_j c_j of each row, the first index on ties; when spec.argmax or spec.accuracy. */
  readonly argmax?: Int32Array;
  /** (N) −Σ_j p_j·log p_j of each row (ignored rows included); when spec.entropy. */
  readonly entropy?: Float64Array;
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
 * - `target`/`probs` and `spec`: as in CrossEntropyArgs;
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
  readonly spec: LossSpec;
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

/** What `supports` is asked about a call: the kernel, the element type, the sizes, the gradient. */
export interface CallShape {
  readonly kernel: "crossEntropy" | "linearCrossEntropy" | "distillation" | "rowStats" | "sliceBackward";
  readonly dtype: "float32" | "float64";
  readonly n: number;
  readonly v: number;
  /** The hidden size D of linearCrossEntropy; 0 for crossEntropy and distillation. */
  readonly d: number;
  readonly grad: boolean;
  /**
   * crossEntropy: true when the call asks for what only the fused row kernels compute
   * (temperature ≠ 1, argmax, accuracy, entropy; see lmOnly in common.ts). linearCrossEntropy:
   * true when it asks for argmax, accuracy or entropy (a temperature is folded into the head's
   * products). Absent means false.
   */
  readonly lmOutputs?: boolean;
}

/**
 * The synchronous kernels of a backend that can run on the calling thread (reference, js,
 * single-thread wasm): the synchronous API calls these.
 */
export interface SyncKernels {
  crossEntropy(args: CrossEntropyArgs): CrossEntropyResult;
  linearCrossEntropy(args: LinearCrossEntropyArgs): LinearCrossEntropyResult;
  distillation(args: DistillationArgs): DistillationResult;
  /** The slice statistics of a vocabulary slice, written into `out` (the slice API's first step). */
  rowStats?(args: CrossEntropyArgs, slice: VocabSlice, out: SliceStats): void;
  /** A slice's gradient from the merged statistics, into `args.gradOut` (the slice API's last step). */
  sliceBackward?(args: CrossEntropyArgs, slice: VocabSlice, merged: MergedStats): void;
}

/** Bytes of executor memory allocated now, and the most at once since creation or the last reset. */
export interface MemoryStats {
  bytesInUse: number;
  peakBytes: number;
}

/**
 * One backend's executor: its memory and its kernels, run asynchronously. An executor runs one
 * call at a time; the engine queues calls. Inputs may live anywhere: a kernel reads them while it
 * runs (the engine captures inputs that are not executor memory before it hands them over).
 * Gradient outputs that are executor memory (`owns`) are written in place; others are filled
 * when the promise resolves.
 */
export interface Executor {
  readonly name: string;
  /** Threads the kernels run on. */
  readonly threads: number;
  /** n float32 elements of executor memory (zero-copy input and output). Throws a RangeError when it cannot. */
  alloc(n: number): Float32Array;
  /** Free a block from `alloc`; false (and nothing freed) when it is not a live block of this executor. */
  free(buffer: Float32Array): boolean;
  /** True when `x` lies in a live block of this executor's memory. */
  owns(x: ArrayBufferView): boolean;
  /** True when `x` is a view of this executor's memory that no live block holds (freed, or never allocated). */
  freed(x: ArrayBufferView): boolean;
  /** Largest count `alloc` accepts, in float32 elements. */
  readonly maxAlloc: number;
  /** True when the executor runs the call; otherwise a short reason (the engine then runs it elsewhere). */
  supports(call: CallShape): true | string;
  crossEntropy(args: CrossEntropyArgs): Promise<CrossEntropyResult>;
  linearCrossEntropy(args: LinearCrossEntropyArgs): Promise<LinearCrossEntropyResult>;
  /** Logits on the GPU or 16-bit host logits (the webgpu executor only; other engines refuse such inputs). */
  crossEntropyGpu?(args: GpuCrossEntropyArgs): Promise<GpuCrossEntropyResult>;
  /** GPU logits, submitted at once, nothing read back (the webgpu executor only): the per-row values stay on the GPU. */
  crossEntropyGpuSync?(args: GpuCrossEntropyArgs): GpuSubmission;
  /** The fused linear head submitted at once, its results left on the GPU (the webgpu executor only). */
  linearCrossEntropyGpuSync?(args: GpuLinearArgs): GpuLinearSubmission;
  /** Absent where the executor has no distillation kernel (the engine then runs it on a CPU backend). */
  distillation?(args: DistillationArgs): Promise<DistillationResult>;
  memoryStats(): MemoryStats;
  resetPeakMemory(): void;
  /** Stop the threads and release the memory; a call in flight fails. */
  dispose(): void;
}

/**
 * A WebGPU `GPUDevice`, as far as the public types need one: a real GPUDevice (from
 * `@webgpu/types`, or TensorFlow.js's webgpu backend) is assignable to it, and users without
 * WebGPU types need none. The webgpu backend checks it at run time.
 */
export interface GpuDeviceLike {
  readonly queue: object;
  createBuffer(...args: never[]): unknown;
  createComputePipelineAsync(...args: never[]): unknown;
}

/**
 * A WebGPU `GPUBuffer`, as far as the public types need one: a real GPUBuffer (from
 * `@webgpu/types`, or `tensor.dataToGPU()` of TensorFlow.js's webgpu backend) is assignable to
 * it, and users without WebGPU types need none. The webgpu backend checks it at run time.
 */
export interface GpuBufferLike {
  readonly size: number;
  readonly usage: number;
  mapAsync(...args: never[]): unknown;
  destroy(): unknown;
}

/** How a GPU buffer (or 16-bit host array) stores its floats: float32, or 16-bit floats two to a 32-bit word. */
export type GpuDtype = "float32" | "float16" | "bfloat16";

/** Logits (or probabilities) on the GPU, validated: `length` elements of `dtype` from byte `offset` of `buffer`. */
export interface GpuInput {
  readonly buffer: GpuBufferLike;
  readonly offset: number;
  readonly length: number;
  readonly dtype: GpuDtype;
}

/** 16-bit float logits on the host (float16 or bfloat16 bits), uploaded packed. */
export interface HostHalf {
  readonly host: Uint16Array;
  readonly dtype: "float16" | "bfloat16";
}

/**
 * A cross-entropy call whose logits are GPU buffers or 16-bit host arrays (the webgpu
 * executor's `crossEntropyGpu`). As CrossEntropyArgs, except:
 * - `logits` is a GpuInput of n·v elements (any dtype), or 16-bit host logits;
 * - `probs` may be a float32 GpuInput of n·v elements;
 * - `grad`: "none"; "new" (GPU logits: a new buffer in the logits' dtype; host logits: `gradOut`);
 *   "inplace" (written over the logits: the caller's GPU buffer, or `gradOut` === the host logits).
 */
export interface GpuCrossEntropyArgs {
  readonly logits: GpuInput | HostHalf;
  readonly n: number;
  readonly v: number;
  readonly target: Int32Array | null;
  readonly probs: FloatArray | GpuInput | null;
  readonly spec: LossSpec;
  readonly grad: "none" | "new" | "inplace";
  /** 16-bit host logits with a gradient: where it goes (the logits themselves for inplace). */
  readonly gradOut: Uint16Array | null;
}

/**
 * What a synchronous submission leaves on the GPU (webgpu): `rows` (N, 2) float32, each row's loss
 * and lse, in a buffer the next submission rewrites (copy it first, as `tf.tensor({ buffer })`
 * does); the mean's denominator D; the gradient's buffer, or null.
 */
export interface GpuSubmission<B extends GpuBufferLike = GpuBufferLike> {
  readonly rows: B;
  readonly denominator: number;
  readonly grad: B | null;
}

/**
 * A fused linear head call submitted at once on the GPU (the webgpu executor's
 * `linearCrossEntropyGpuSync`). As LinearCrossEntropyArgs, except:
 * - `hidden`, `weight`, `bias` are float32 GpuInputs (n·d, v·d and v elements) or Float32Arrays
 *   (uploaded by the call);
 * - `upstream`: (N) float32 factors of each row's gradient (reduction "none": the gradients are
 *   those of Σ_i upstream_i·L_i), a GpuInput or a Float32Array; or null;
 * - no gradient outputs: `grad` says whether the gradients are computed; they stay on the GPU.
 */
export interface GpuLinearArgs extends Pick<LinearCrossEntropyArgs, "n" | "d" | "v" | "target" | "probs" | "spec" | "chunkRows"> {
  readonly hidden: Float32Array | GpuInput;
  readonly weight: Float32Array | GpuInput;
  readonly bias: Float32Array | GpuInput | null;
  readonly upstream: Float32Array | GpuInput | null;
  readonly grad: boolean;
}

/**
 * What a synchronous linear head submission leaves on the GPU (webgpu), every buffer float32 and
 * rewritten by the next submission (copy them first, as `tf.tensor({ buffer })` does): `rows`
 * (N, 2) each row's loss and lse (the buffer may be larger); the mean's denominator; with a
 * gradient, gradHidden (N, D), gradWeight (V, D) and, with a bias, gradBias (V), each a buffer of
 * exactly its size; else null.
 */
export interface GpuLinearSubmission<B extends GpuBufferLike = GpuBufferLike> {
  readonly rows: B;
  readonly denominator: number;
  readonly gradHidden: B | null;
  readonly gradWeight: B | null;
  readonly gradBias: B | null;
}

/** What `crossEntropyGpu` returns: the per-row values on the host, and the gradient's GPU buffer ("new": the caller owns it; "inplace": the logits' own). */
export interface GpuCrossEntropyResult extends CrossEntropyResult {
  readonly grad: GpuBufferLike | null;
}

/** Options an executor is created with (validated by createEngine). */
export interface ExecutorOptions {
  /** Worker threads wanted (the executor may run fewer, e.g. 1 without shared memory). */
  readonly threads: number | undefined;
  /** How long idle workers spin before they sleep (ms; the wasm backend's pool), or undefined for the default. */
  readonly spinMs?: number | undefined;
  /** A caller's GPU device (the webgpu backend; others never get one). */
  readonly device?: GpuDeviceLike | undefined;
}

/**
 * A backend as the registry knows it: a name, a priority for "auto" (higher first), what calls
 * it accepts, its synchronous kernels when it can run on the calling thread, and how to make an
 * executor. Every member but the name is optional, so a backend written against the synchronous
 * kernels alone (`{ name, crossEntropy }`) still registers: it then accepts every call, and
 * ranks above the built-in backends.
 */
export interface Backend {
  readonly name: string;
  /** "auto" picks the highest-priority backend whose `supports` accepts the call. */
  readonly priority?: number;
  /** False: "auto" never picks it, only its name does (webgpu: slower than wasm without a real GPU). Default true. */
  readonly auto?: boolean;
  /** True when this backend runs the call; otherwise a short reason, for error messages. */
  supports?(call: CallShape): true | string;
  /** The synchronous cross-entropy kernel (for the synchronous API). */
  crossEntropy?(args: CrossEntropyArgs): CrossEntropyResult;
  /** The synchronous fused LM head + cross-entropy kernel. */
  linearCrossEntropy?(args: LinearCrossEntropyArgs): LinearCrossEntropyResult;
  /** The synchronous distillation kernel (KL, reverse KL, JSD of a student from a teacher). */
  distillation?(args: DistillationArgs): DistillationResult;
  /** The synchronous slice kernels of the slice API (docs/slices.md): statistics and gradient of one vocabulary slice. */
  rowStats?(args: CrossEntropyArgs, slice: VocabSlice, out: SliceStats): void;
  sliceBackward?(args: CrossEntropyArgs, slice: VocabSlice, merged: MergedStats): void;
  /** A new executor (an engine's backend). */
  createExecutor?(options: ExecutorOptions): Promise<Executor>;
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
