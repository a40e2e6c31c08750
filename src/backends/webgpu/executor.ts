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
    if (this.owned) this.device.destroy();
    void this.gpu;
  }
}
