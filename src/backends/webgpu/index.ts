/** The WebGPU backend: an asynchronous executor on a GPUDevice (see docs/webgpu.md). */
export { createWebGpuExecutor, type WebGpuCall, type WebGpuExecutor, type WebGpuExecutorOptions } from "./executor.js";
export { planRowBlocks, type BlockLimits, type BlockPlan } from "./blocks.js";
