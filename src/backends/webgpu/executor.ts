/// <reference types="@webgpu/types" />
/**
 * The WebGPU executor: one device, its pipelines and its reusable buffers; kernels run
 * asynchronously, one call at a time (calls queue on the executor).
 *
 * Typed-array inputs are uploaded a block of rows at a time and results read back into the
 * caller's arrays (the gradient into `gradOut`, which may be the logits themselves for inplace).
 * Only float32 logits are accepted (`supports` says so for float64).
 */
import type { CrossEntropyArgs, CrossEntropyResult, LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import type { BlockLimits } from "./blocks.js";
import { BufferPool } from "./buffers.js";
import { crossEntropyGpu, type GpuContext } from "./crossEntropy.js";
import { acquireDevice } from "./gpu.js";
import { PipelineCache } from "./shader.js";

export interface WebGpuExecutorOptions {
  /** A caller's device (e.g. the one TensorFlow.js's webgpu backend holds); otherwise one is requested. */
  device?: GPUDevice;
  /**
   * Largest bytes of one storage binding the kernels use, at most the device's
   * `maxStorageBufferBindingSize` and `maxBufferSize` (a smaller value makes more, smaller row
   * blocks; tests use it to exercise blocking on small inputs).
   */
  maxBindingBytes?: number;
}

/** What `supports` is asked: the kernel, the element type, the elements of the largest operand. */
export interface WebGpuCall {
  readonly kernel: "crossEntropy" | "linearCrossEntropy";
  readonly dtype: "float32" | "float64";
  readonly elements: number;
}

export interface WebGpuExecutor {
  readonly name: "webgpu";
  /** "auto" ranks backends by priority, highest first. */
  readonly priority: number;
  readonly device: GPUDevice;
  /** The adapter's vendor, architecture and description, as far as the platform tells. */
  readonly adapterName: string;
  /** Threads of the host side (1: the GPU does the work). */
  readonly threads: number;
  /**
   * n float32 elements of host memory for inputs and outputs. Not zero-copy here: typed arrays are
   * uploaded per call whatever their origin; these exist so the executor fits the common contract.
   */
  alloc(n: number): Float32Array;
  /** Forget a block from `alloc`; false when it is not a live block of this executor. */
  free(buffer: Float32Array): boolean;
  /** True when `x` lies in a live block from `alloc`. */
  owns(x: ArrayBufferView): boolean;
  /** True when this executor runs the call; otherwise why not. */
  supports(call: WebGpuCall): true | string;
  crossEntropy(args: CrossEntropyArgs): Promise<CrossEntropyResult>;
  linearCrossEntropy(args: LinearCrossEntropyArgs): Promise<LinearCrossEntropyResult>;
  /** Bytes of GPU buffers the executor holds for reuse. */
  readonly bufferBytes: number;
  /** Release the buffers, and the device when the executor requested it. */
  dispose(): void;
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
  return new Executor(acquired.gpu, device, acquired.owned, acquired.adapterName, limits);
}

class Executor implements WebGpuExecutor {
  readonly name = "webgpu";
  readonly priority = 30;
  private readonly ctx: GpuContext;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private lost: string | null = null;
  private readonly blocks = new Set<ArrayBufferLike>();
  readonly threads = 1;

  constructor(
    // Dawn's GPU object: referenced for the device's lifetime (dropping it crashes Dawn).
    private readonly gpu: GPU | null,
    readonly device: GPUDevice,
    private readonly owned: boolean,
    readonly adapterName: string,
    limits: BlockLimits,
  ) {
    this.ctx = { device, pipelines: new PipelineCache(device), buffers: new BufferPool(device), limits };
    void device.lost.then((info) => {
      this.lost = info.message.length > 0 ? info.message : info.reason;
    });
  }

  supports(call: WebGpuCall): true | string {
    if (call.kernel !== "crossEntropy") return "the webgpu backend runs crossEntropy only (no fused linear head yet)";
    if (call.dtype !== "float32") return "the webgpu backend reads float32 logits only";
    return true;
  }

  alloc(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`webgpu backend: alloc(${n}); expected a positive integer count of float32 elements`);
    const a = new Float32Array(n);
    this.blocks.add(a.buffer);
    return a;
  }

  free(buffer: Float32Array): boolean {
    return this.blocks.delete(buffer.buffer);
  }

  owns(x: ArrayBufferView): boolean {
    return this.blocks.has(x.buffer);
  }

  get bufferBytes(): number {
    return this.ctx.buffers.bytes;
  }

  private run<T>(fn: string, body: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new Error(`webgpu backend: ${fn} on a disposed executor`));
    const next = this.queue.then(() => {
      if (this.lost !== null) throw new Error(`webgpu backend: ${fn}: the GPU device was lost (${this.lost})`);
      return body();
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  crossEntropy(args: CrossEntropyArgs): Promise<CrossEntropyResult> {
    return this.run("crossEntropy", () => crossEntropyGpu(this.ctx, args));
  }

  linearCrossEntropy(_args: LinearCrossEntropyArgs): Promise<LinearCrossEntropyResult> {
    return Promise.reject(new Error("webgpu backend: linearCrossEntropy is not implemented on the GPU yet; use the wasm or js backend"));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.ctx.buffers.destroy();
    this.blocks.clear();
    if (this.owned) this.device.destroy();
    void this.gpu;
  }
}
