/**
 * The wasm backend: AssemblyScript SIMD kernels (kernel/), embedded in the package, float32.
 * Its synchronous kernels run on one instance with its own memory, compiled by `load()` (which
 * the registry's `init()` calls before registering this backend); its executor (executor.ts)
 * adds shared memory, worker threads and zero-copy blocks, and needs no `load()`.
 */
import type { Backend, CallShape, CrossEntropyArgs, CrossEntropyResult, DistillationArgs, DistillationResult, Executor, ExecutorOptions, LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import { crossEntropySync } from "./crossEntropy.js";
import { distillationSync } from "./distillation.js";
import { WasmExecutor } from "./executor.js";
import { WasmInstance } from "./instance.js";
import { linearCrossEntropySync } from "./linearCrossEntropy.js";
import { detectFeatures } from "./loader.js";

export { detectFeatures, type WasmFeatures } from "./loader.js";

/** Bytes the synchronous linear kernel may copy into its instance (hidden, weight, gradWeight); larger calls go elsewhere. */
const SYNC_LINEAR_BYTES = 2 ** 31;
/** Largest block of wasm memory: 2^28 float32 (kernel/memory.ts). */
const BLOCK_ELEMENTS = 2 ** 28;

let instance: WasmInstance | null = null;
let loading: Promise<WasmInstance | null> | null = null;

function loaded(): WasmInstance {
  if (instance === null) throw new Error('wasm backend: not loaded; expected `await init()` before backend "wasm" runs synchronously');
  return instance;
}

export interface WasmBackend extends Backend {
  /** Compile and instantiate the synchronous kernels' module (once); false where WASM SIMD is missing. */
  load(): Promise<boolean>;
}

export const wasmBackend: WasmBackend = {
  name: "wasm",
  priority: 20,
  supports(call: CallShape): true | string {
    if (!detectFeatures().simd) return "this runtime lacks WebAssembly SIMD";
    if (call.dtype !== "float32") return "its kernels are float32";
    if (call.kernel === "linearCrossEntropy") {
      const { n, d, v } = call;
      if (n * d > BLOCK_ELEMENTS || v * d > BLOCK_ELEMENTS) return "hidden or weight exceeds 1 GiB, the largest block of wasm memory";
      if (4 * (n * d + v * d * (call.grad ? 2 : 1)) > SYNC_LINEAR_BYTES) return "hidden, weight and gradWeight exceed 2 GiB of wasm memory";
    }
    return true;
  },
  crossEntropy(args: CrossEntropyArgs): CrossEntropyResult {
    return crossEntropySync(loaded(), args);
  },
  linearCrossEntropy(args: LinearCrossEntropyArgs): LinearCrossEntropyResult {
    return linearCrossEntropySync(loaded(), args);
  },
  distillation(args: DistillationArgs): DistillationResult {
    return distillationSync(loaded(), args);
  },
  createExecutor(options: ExecutorOptions): Promise<Executor> {
    return WasmExecutor.create(options.threads);
  },
  async load(): Promise<boolean> {
    if (!detectFeatures().simd) return false;
    loading ??= WasmInstance.create("own").then((inst) => (instance = inst));
    return (await loading) !== null;
  },
};
