/**
 * One WebGPU device for the webgpu tests, on whatever adapter the machine has. In Node on Linux
 * without a GPU that is SwiftShader, the Vulkan driver inside Debian's chromium package: its ICD
 * file is used when VK_ICD_FILENAMES is unset (the Vulkan loader itself comes from libvulkan1).
 *
 * Where no adapter exists the tests skip with one line, except under CI=true, where they fail.
 */
import { existsSync } from "node:fs";
import { after } from "node:test";
import { crossEntropyOutput } from "../../src/api/crossEntropy.js";
import { resolveCrossEntropy } from "../../src/api/resolve.js";
import { createWebGpuExecutor, type WebGpuExecutor, type WebGpuExecutorOptions } from "../../src/backends/webgpu/index.js";
import type { CrossEntropyArgs } from "../../src/backends/types.js";
import type { CrossEntropyOptions, CrossEntropyOutput, TargetInput } from "../../src/index.js";

const STORAGE = 0x80;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const MAP_READ = 0x1;

export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

/** Point Dawn at SwiftShader when no Vulkan driver is chosen and Debian's chromium ships one. */
export function useSwiftShaderIfUnset(): void {
  if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
}

useSwiftShaderIfUnset();

/** An executor (disposed after the file's tests), or the one-line reason there is none (the tests then skip; under CI they fail). */
export async function openExecutor(options: WebGpuExecutorOptions = {}): Promise<WebGpuExecutor | string> {
  try {
    const ex = await createWebGpuExecutor(options);
    after(() => ex.dispose());
    return ex;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    if (process.env.CI === "true") throw new Error(`CI=true needs a WebGPU adapter (apt-get install chromium libvulkan1): ${why}`);
    return `no WebGPU adapter here: ${why}`;
  }
}

/** crossEntropy through the public option handling, run on the executor itself (float32 logits). */
export async function runOn(ex: WebGpuExecutor, logits: Float32Array, target: TargetInput, options: CrossEntropyOptions): Promise<CrossEntropyOutput> {
  const r = resolveCrossEntropy("test", "crossEntropy", logits, target, options);
  const gradOut = !r.grad ? null : r.inplace ? r.logits : new Float32Array(r.n * r.v);
  const args: CrossEntropyArgs = { logits: r.logits, n: r.n, v: r.v, target: r.target, probs: r.probs, spec: r.spec, gradOut };
  return crossEntropyOutput(args, await ex.crossEntropy(args), gradOut);
}

/** A buffer holding `data`'s bytes at byte `offset` (the rest: `fill` bytes). */
export function upload(device: GPUDevice, data: ArrayBufferView, offset = 0, extra = 0, usage = STORAGE | COPY_SRC | COPY_DST): GPUBuffer {
  const size = Math.ceil((offset + data.byteLength + extra) / 4) * 4;
  const buf = device.createBuffer({ size, usage, mappedAtCreation: true });
  const bytes = new Uint8Array(buf.getMappedRange());
  bytes.fill(0xab);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
  buf.unmap();
  return buf;
}

/** `bytes` bytes of `buf` from `offset`, read back (test only). */
export async function readBack(device: GPUDevice, buf: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const read = device.createBuffer({ size, usage: MAP_READ | COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, offset, read, 0, size);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(MAP_READ);
  const out = read.getMappedRange().slice(0, bytes);
  read.unmap();
  read.destroy();
  return out;
}
