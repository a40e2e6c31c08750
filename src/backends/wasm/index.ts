/**
 * The wasm backend: AssemblyScript SIMD kernels (kernel/), embedded in the package, float32.
 * Its synchronous kernels run on one instance with its own memory, compiled by `load()` (which
 * the registry's `init()` calls before registering this backend); its executor (executor.ts)
 * adds shared memory, worker threads and zero-copy blocks, and needs no `load()`. This file is
 * all that `import "xent"` loads of the backend: the host code of the kernels, the executor and
 * the embedded modules are imported by `load()` and `createExecutor()`.
 */
import type { Backend, CallShape, CrossEntropyArgs, CrossEntropyResult, DistillationArgs, DistillationResult, Executor, ExecutorOptions, LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import { detectFeatures } from "./loader.js";

export { detectFeatures, type WasmFeatures } from "./loader.js";

/** Bytes the synchronous linear kernel may copy into its instance (hidden, weight, gradWeight); larger calls go elsewhere. */
const SYNC_LINEAR_BYTES = 2 ** 31;
/** Largest block of wasm memory: 2^28 float32 (kernel/memory.ts). */
const BLOCK_ELEMENTS = 2 ** 28;

/** The synchronous kernels, bound to their instance once `load()` has compiled it. */
interface BoundKernels {
  crossEntropy(args: CrossEntropyArgs): CrossEntropyResult;
  linearCrossEntropy(args: LinearCrossEntropyArgs): LinearCrossEntropyResult;
  distillation(args: DistillationArgs): DistillationResult;
}

let kernels: BoundKernels | null = null;
let loading: Promise<BoundKernels> | null = null;

function loaded(): BoundKernels {
  if (kernels === null) throw new Error('wasm backend: not loaded; expected `await init()` before backend "wasm" runs synchronously');
  return kernels;
}

async function loadKernels(): Promise<BoundKernels> {
  const [ce, lin, di, { WasmInstance }] = await Promise.all([import("./crossEntropy.js"), import("./linearCrossEntropy.js"), import("./distillation.js"), import("./instance.js")]);
  const inst = await WasmInstance.create("own");
  return {
    crossEntropy: (args) => ce.crossEntropySync(inst, args),
    linearCrossEntropy: (args) => lin.linearCrossEntropySync(inst, args),
    distillation: (args) => di.distillationSync(inst, args),
  };
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
    return loaded().crossEntropy(args);
  },
  linearCrossEntropy(args: LinearCrossEntropyArgs): LinearCrossEntropyResult {
    return loaded().linearCrossEntropy(args);
  },
  distillation(args: DistillationArgs): DistillationResult {
    return loaded().distillation(args);
  },
  createExecutor(options: ExecutorOptions): Promise<Executor> {
    return import("./executor.js").then((m) => m.WasmExecutor.create(options.threads, options.spinMs));
  },
  async load(): Promise<boolean> {
    if (!detectFeatures().simd) return false;
    loading ??= loadKernels().then((k) => (kernels = k));
    await loading;
    return true;
  },
};
