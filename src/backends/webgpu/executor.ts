/// <reference types="@webgpu/types" />
/**
 * The WebGPU executor: one device, its reusable buffers (and the device's shared pipeline
 * cache); kernels run asynchronously, one call at a time (calls queue on the executor).
 *
 * Typed-array inputs are uploaded a block of rows at a time and results read back into the
 * caller's arrays (the gradient into `gradOut`, which may be the logits themselves for inplace).
 * GPU buffers (`crossEntropyGpu`, and the synchronous submissions of crossEntropy and the linear
 * head) are read where they lie, and their results stay on the GPU.
 * Float32 crossEntropy and linearCrossEntropy run here (`supports` says why for the rest; the
 * engine runs those calls on the CPU).
 */
import type {
  CallShape, CrossEntropyArgs, CrossEntropyResult, Executor, GpuCrossEntropyArgs, GpuCrossEntropyResult, GpuLinearArgs, GpuLinearSubmission, GpuSubmission, LinearCrossEntropyArgs,
  LinearCrossEntropyResult, MemoryStats,
} from "../types.js";
import type { BlockLimits } from "./blocks.js";
import { BufferPool } from "./buffers.js";
import { crossEntropyGpu, crossEntropyGpuInput, crossEntropyGpuSync, type GpuContext } from "./crossEntropy.js";
import { acquireDevice } from "./gpu.js";
import { linearCrossEntropyGpu, linearCrossEntropyGpuSync, planLinear } from "./linearCrossEntropy.js";
import { pipelinesOf } from "./shader.js";
import { PassTimer } from "./timer.js";

/** Largest block `alloc` hands out: 2^28 float32 (1 GiB), as the other executors. */
const MAX_ALLOC = 2 ** 28;

export interface WebGpuExecutorOptions {
  /** A caller's device (e.g. the one TensorFlow.js's webgpu backend holds); otherwise one is requested. */
  device?: GPUDevice;
  /**
   * Largest bytes of one storage binding the kernels use, at most the device's
   * `maxStorageBufferBindingSize` and `maxBufferSize` (a smaller value makes more, smaller row
   * blocks; tests use it to exercise blocking on small inputs).
   */
  maxBindingBytes?: number;
  /**
   * Reductions with subgroup operations where the device has the `subgroups` feature (default
   * true); false runs the workgroup-memory tree everywhere (tests compare the two).
   */
  subgroups?: boolean;
  /**
   * Vocabulary slices per row for every call: 1 never splits, k >= 2 always splits each row into
   * k slices (tests). Default: `vocabSlices(n, v)` per call, a function of the shape.
   */
  vocabSlices?: number;
  /**
   * Time each call's kernels on the GPU (`lastKernelMs`) with timestamp queries, where the device
   * has the `timestamp-query` feature (benchmarks; default false).
   */
  timestamps?: boolean;
}

export interface WebGpuExecutor extends Executor {
  readonly name: "webgpu";
  readonly device: GPUDevice;
  /** The adapter's vendor, architecture and description, as far as the platform tells. */
  readonly adapterName: string;
  /** Bytes of GPU buffers the executor holds for reuse between calls. */
  readonly bufferBytes: number;
  crossEntropyGpu(args: GpuCrossEntropyArgs): Promise<GpuCrossEntropyResult>;
  /** Whether the kernels reduce with subgroup operations (the device's `subgroups` feature). */
  readonly subgroups: boolean;
  /** GPU milliseconds of the last call's kernels, with `timestamps` on a device that has timestamp queries; else null. */
  readonly lastKernelMs: number | null;
  crossEntropyGpuSync(args: GpuCrossEntropyArgs): GpuSubmission;
  linearCrossEntropyGpuSync(args: GpuLinearArgs): GpuLinearSubmission;
}

/** Create a WebGPU executor on the given device, or on a new one (navigator.gpu, or `webgpu` in Node). */
export async function createWebGpuExecutor(options: WebGpuExecutorOptions = {}): Promise<WebGpuExecutor> {
  const acquired = await acquireDevice(options.device);
  const { device } = acquired;
  const lim = device.limits;
  let maxBindingBytes = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
  if (options.maxBindingBytes !== undefined) {
    const m = options.maxBindingBytes;
    if (!Number.isInteger(m) || m < 16) throw new RangeError(`createWebGpuExecutor: options.maxBindingBytes is ${m}; expected an integer >= 16`);
    maxBindingBytes = Math.min(maxBindingBytes, m);
  }
  const limits: BlockLimits = {
    maxBindingBytes: Math.floor(maxBindingBytes / 4) * 4,
    offsetAlignment: lim.minStorageBufferOffsetAlignment,
    maxWorkgroups: lim.maxComputeWorkgroupsPerDimension,
  };
  const slices = options.vocabSlices;
  if (slices !== undefined && (!Number.isInteger(slices) || slices < 1 || slices > 4096)) {
    throw new RangeError(`createWebGpuExecutor: options.vocabSlices is ${slices}; expected an integer from 1 to 4096`);
  }
  const kernel = {
    subgroups: options.subgroups !== false && device.features.has("subgroups"),
    forceSlices: slices ?? null,
    timer: options.timestamps === true && device.features.has("timestamp-query") ? new PassTimer(device) : null,
  };
  return new GpuExecutor(acquired.gpu, device, acquired.owned, acquired.adapterName, limits, kernel);
}

class GpuExecutor implements WebGpuExecutor {
  readonly name = "webgpu";
  readonly threads = 1;
  readonly maxAlloc = MAX_ALLOC;
  private readonly ctx: GpuContext;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private lost: string | null = null;
  /** Host blocks from alloc: live ones, and every one ever handed out (to recognise freed views). */
  private readonly live = new Set<ArrayBufferLike>();
  private readonly ever = new WeakSet<ArrayBufferLike>();
  private inUse = 0;
  private peak = 0;

  constructor(
    // Dawn's GPU object: referenced for the device's lifetime (dropping it crashes Dawn).
    private readonly gpu: GPU | null,
    readonly device: GPUDevice,
    private readonly owned: boolean,
    readonly adapterName: string,
    limits: BlockLimits,
    kernel: Pick<GpuContext, "subgroups" | "forceSlices" | "timer">,
  ) {
    this.ctx = { device, pipelines: pipelinesOf(device), buffers: new BufferPool(device), limits, ...kernel };
    void device.lost.then((info) => {
      this.lost = info.message.length > 0 ? info.message : info.reason;
    });
  }

  supports(call: CallShape): true | string {
    if (call.kernel === "linearCrossEntropy") return this.supportsLinear(call);
    if (call.kernel !== "crossEntropy") return "the webgpu backend runs crossEntropy and linearCrossEntropy only";
    if (call.dtype !== "float32") return "the webgpu backend reads float32 logits only";
    if (call.lmOutputs === true) return "the webgpu kernel has no temperature, argmax, accuracy or entropy";
    if (call.v * 4 > this.ctx.limits.maxBindingBytes) return `a row of ${call.v * 4} bytes exceeds the device's largest storage binding (${this.ctx.limits.maxBindingBytes} bytes)`;
    return true;
  }

  private supportsLinear(call: CallShape): true | string {
    if (call.dtype !== "float32") return "the webgpu backend reads float32 hidden states and weights only";
    if (call.lmOutputs === true) return "the webgpu linear head has no argmax, accuracy or entropy";
    const plan = planLinear(call.n, call.d, call.v, call.n, this.ctx.limits);
    if (typeof plan === "string") return plan;
    const ghBytes = call.grad ? call.n * call.d * 4 : 0;
    if (ghBytes > this.device.limits.maxBufferSize) return `gradHidden's ${ghBytes} bytes exceed the device's largest buffer (${this.device.limits.maxBufferSize} bytes)`;
    return true;
  }

  /**
   * n float32 elements of host memory. Not zero-copy on a GPU: typed arrays are uploaded per call
   * whatever their origin; blocks exist so that the engine's zero-copy path works unchanged.
   */
  alloc(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 0 || n > MAX_ALLOC) throw new RangeError(`webgpu backend: alloc(${n}); expected an integer count of float32 elements from 0 to 2^28`);
    const a = new Float32Array(n);
    this.live.add(a.buffer);
    this.ever.add(a.buffer);
    this.inUse += a.byteLength;
    this.peak = Math.max(this.peak, this.inUse);
    return a;
  }

  free(buffer: Float32Array): boolean {
    if (!this.live.delete(buffer.buffer)) return false;
    this.inUse -= buffer.buffer.byteLength;
    return true;
  }

  owns(x: ArrayBufferView): boolean {
    return this.live.has(x.buffer);
  }

  freed(x: ArrayBufferView): boolean {
    return this.ever.has(x.buffer) && !this.live.has(x.buffer);
  }

  /** Host blocks from alloc (GPU buffers kept between calls are `bufferBytes`). */
  memoryStats(): MemoryStats {
    return { bytesInUse: this.inUse, peakBytes: this.peak };
  }

  resetPeakMemory(): void {
    this.peak = this.inUse;
  }

  get subgroups(): boolean {
    return this.ctx.subgroups;
  }

  get lastKernelMs(): number | null {
    return this.ctx.timer?.lastMs ?? null;
  }

  get bufferBytes(): number {
    return this.ctx.buffers.bytes;
  }

  /** Why a call cannot run now (the executor disposed, or its device lost), or null. */
  private unusable(fn: string): Error | null {
    if (this.disposed) return new Error(`webgpu backend: ${fn} on a disposed executor`);
    if (this.lost !== null) return new Error(`webgpu backend: ${fn}: the GPU device was lost (${this.lost})`);
    return null;
  }

  /** Run `body` at once, unless the executor cannot run work (then throw why). */
  private now<T>(fn: string, body: () => T): T {
    const why = this.unusable(fn);
    if (why !== null) throw why;
    return body();
  }

  /** Run `body` after the calls queued before it. */
  private run<T>(fn: string, body: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(this.unusable(fn));
    const next = this.queue.then(() => this.now(fn, body));
    this.queue = next.catch(() => undefined);
    return next;
  }

  crossEntropy(args: CrossEntropyArgs): Promise<CrossEntropyResult> {
    return this.run("crossEntropy", () => crossEntropyGpu(this.ctx, args));
  }

  crossEntropyGpu(args: GpuCrossEntropyArgs): Promise<GpuCrossEntropyResult> {
    return this.run("crossEntropy", () => crossEntropyGpuInput(this.ctx, args));
  }

  /** At once, not queued behind asynchronous calls (its pooled buffers are its own). */
  crossEntropyGpuSync(args: GpuCrossEntropyArgs): GpuSubmission {
    return this.now("crossEntropy", () => crossEntropyGpuSync(this.ctx, args));
  }

  linearCrossEntropy(args: LinearCrossEntropyArgs): Promise<LinearCrossEntropyResult> {
    return this.run("linearCrossEntropy", () => linearCrossEntropyGpu(this.ctx, args));
  }

  /** At once, not queued behind asynchronous calls (its pooled buffers are its own). */
  linearCrossEntropyGpuSync(args: GpuLinearArgs): GpuLinearSubmission {
    return this.now("linearCrossEntropy", () => linearCrossEntropyGpuSync(this.ctx, args));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ctx.buffers.destroy();
    this.ctx.timer?.destroy();
    this.live.clear();
    this.inUse = 0;
    if (this.owned) this.device.destroy();
    void this.gpu;
  }
}
