/** xent: exact, fast cross-entropy for language models. This entry only re-exports. */
export { crossEntropy } from "./api/crossEntropy.js";
export { linearCrossEntropy } from "./api/linearCrossEntropy.js";
export { distillationLoss } from "./api/distillation.js";
export { createEngine, type Engine, type EngineOptions, type EngineMemoryStats } from "./api/engine.js";
export { sliceStats, mergeSliceStats, sliceGrad } from "./api/slices.js";
export type { SliceOptions, SliceStatistics, MergedSliceStats } from "./api/options.js";
export type { GpuDeviceLike, GpuBufferLike, GpuDtype, GpuLinearSubmission, GpuSubmission } from "./backends/types.js";
export { softmax, logSoftmax, perplexity, type SoftmaxOptions } from "./api/softmax.js";
export type { CrossEntropyOptions, CrossEntropyOutput, CrossEntropyOutputOf, LmOutputFields, LmOutputsOf, LogitsInput, TargetInput, Reduction } from "./api/options.js";
export type { LinearCrossEntropyOptions, LinearCrossEntropyOutput, LinearCrossEntropyOutputOf, MatrixInput, BiasInput } from "./api/options.js";
export type { BackendName, FloatOutput, GradOutput, GpuBufferView, GpuLinearCrossEntropyOptions, GpuLogits, GpuOperand, EngineLogitsInput, EngineTargetInput } from "./api/options.js";
export type { DistillationOptions, DistillationOutput, DistillationKind, DistillationReduction } from "./api/options.js";
export { detectFeatures as wasmFeatures, type WasmFeatures } from "./backends/wasm/index.js";
export { init, listBackends, registerBackend, unregisterBackend } from "./backends/registry.js";
export type { Backend, CallShape, CrossEntropyArgs, CrossEntropyResult, Executor, ExecutorOptions, FloatArray, LossSpec } from "./backends/types.js";
export type { LinearCrossEntropyArgs, LinearCrossEntropyResult, MemoryStats } from "./backends/types.js";
export type { DistillationArgs, DistillationResult, DistillationSpec } from "./backends/types.js";
