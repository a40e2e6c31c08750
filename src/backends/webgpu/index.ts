/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend (docs/webgpu.md): its registry entry (backend.ts, which loads the executor
 * when one is created), the executor itself, and the row-block planner.
 */
export { webgpuBackend } from "./backend.js";

export { createWebGpuExecutor, type WebGpuExecutor, type WebGpuExecutorOptions } from "./executor.js";
export { planRowBlocks, type BlockLimits, type BlockPlan } from "./blocks.js";
export { planLinear, type LinearPlan } from "./linearCrossEntropy.js";

