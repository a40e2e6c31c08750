/** xent: exact, fast cross-entropy for language models. This entry only re-exports. */
export { crossEntropy } from "./api/crossEntropy.js";
export { linearCrossEntropy } from "./api/linearCrossEntropy.js";
export { createEngine, type Engine, type EngineOptions, type EngineMemoryStats } from "./api/engine.js";
export { softmax, logSoftmax, perplexity, type SoftmaxOptions } from "./api/softmax.js";
export type { CrossEntropyOptions, CrossEntropyOutput, LogitsInput, TargetInput, Reduction } from "./api/options.js";
export type { LinearCrossEntropyOptions, LinearCrossEntropyOutput, MatrixInput } from "./api/options.js";
export { init, detectFeatures as wasmFeatures, type WasmFeatures } from "./backends/wasm/index.js";
export { listBackends, registerBackend, unregisterBackend } from "./backends/registry.js";
export type { Backend, CrossEntropyArgs, CrossEntropyResult, FloatArray } from "./backends/types.js";
export type { LinearCrossEntropyArgs, LinearCrossEntropyResult } from "./backends/types.js";
