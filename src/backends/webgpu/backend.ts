/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend's entry in the registry (docs/webgpu.md): an executor only (no synchronous
 * kernels), created by name (`createEngine({ backend: "webgpu", device? })`) and never by "auto":
 * without a real GPU (SwiftShader, a CPU Vulkan driver) it is far slower than wasm, and whether a
 * GPU is real cannot be known before a device exists. The executor and its embedded shaders are
 * imported only when one is created, so that `import "xent"` does not load them.
 */
import type { Backend, CallShape, ExecutorOptions, GpuDeviceLike } from "../types.js";

/** A caller's device, checked for what the executor uses before it is trusted as a GPUDevice. */
function isGpuDevice(d: GpuDeviceLike): d is GPUDevice {
  return typeof d.createBuffer === "function" && typeof d.createComputePipelineAsync === "function" && "limits" in d && "lost" in d;
}

export const webgpuBackend: Backend = {
  name: "webgpu",
  priority: 30,
  auto: false,
  supports(call: CallShape): true | string {
    if (call.kernel !== "crossEntropy" && call.kernel !== "linearCrossEntropy") return "the webgpu backend runs crossEntropy and linearCrossEntropy only";
    return call.dtype === "float32" ? true : "the webgpu backend reads float32 logits only";
  },
  createExecutor(options: ExecutorOptions) {
    const device = options.device;
    if (device !== undefined && !isGpuDevice(device)) {
      return Promise.reject(new TypeError("createEngine: options.device is not a GPUDevice (no limits or lost); expected a GPUDevice from adapter.requestDevice()"));
    }
    return import("./executor.js").then((m) => m.createWebGpuExecutor({ device }));
  },
};
