/**
 * The wasm backend: AssemblyScript SIMD kernels (kernel/), embedded in the package.
 * `init()` compiles and instantiates the single-threaded module and registers the synchronous
 * backend "wasm" (which "auto" then picks); threads and zero-copy are the engine's
 * (src/api/engine.ts). Float64 input runs the js kernel: the wasm kernels are float32.
 */
import { jsBackend } from "../js/index.js";
import { getBackend, listBackends, registerBackend } from "../registry.js";
import type { Backend, CrossEntropyArgs, CrossEntropyResult, LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import { crossEntropySync } from "./crossEntropy.js";
import { WasmInstance } from "./instance.js";
import { linearCrossEntropySync } from "./linearCrossEntropy.js";
import { detectFeatures } from "./loader.js";

export { detectFeatures, type WasmFeatures } from "./loader.js";

/** A synchronous backend over one instance (its own, non-shared memory). */
export function makeWasmBackend(inst: WasmInstance, name = "wasm"): Backend {
  return {
    name,
    crossEntropy(args: CrossEntropyArgs): CrossEntropyResult {
      if (!(args.logits instanceof Float32Array)) return jsBackend.crossEntropy(args);
      return crossEntropySync(inst, args);
    },
    linearCrossEntropy(args: LinearCrossEntropyArgs): LinearCrossEntropyResult {
      if (!(args.hidden instanceof Float32Array)) return jsBackend.linearCrossEntropy!(args);
      try {
        return linearCrossEntropySync(inst, args);
      } catch (e) {
        // hidden, weight and gradWeight did not fit in wasm32's 4 GiB: the js kernel needs no copies.
        if (e instanceof RangeError && /cannot allocate/.test(e.message)) return jsBackend.linearCrossEntropy!(args);
        throw e;
      }
    },
  };
}

let pending: Promise<boolean> | null = null;

/**
 * Make the synchronous "wasm" backend available (and the default for "auto").
 * Resolves to true when it was registered, false when this runtime lacks WASM SIMD (the js
 * backend stays the default). Safe to call more than once.
 */
export function init(): Promise<boolean> {
  pending ??= (async () => {
    if (!detectFeatures().simd) return false;
    if (listBackends().includes("wasm")) return true;
    const inst = await WasmInstance.create("own");
    if (!listBackends().includes("wasm")) registerBackend(makeWasmBackend(inst));
    return getBackend("wasm").name === "wasm";
  })();
  return pending;
}
