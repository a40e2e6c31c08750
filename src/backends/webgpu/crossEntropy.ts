/// <reference types="@webgpu/types" />
/**
 * Host of the fused cross-entropy kernel (crossEntropy.wgsl): uploads float32 logits (N, V) a
 * block of rows at a time, runs one workgroup per row, reads back the gradient block by block
 * (double-buffered, so the GPU works on block k+1 while block k is copied out) and the per-row
 * loss and lse at the end. The batch reduction runs on the host, in float64 and row order, as on
 * every other backend.
 */
import { classWeightSum, gradScale, meanDenominator, reduceLoss } from "../common.js";
import type { CrossEntropyArgs, CrossEntropyResult } from "../types.js";
import { planRowBlocks, type BlockLimits } from "./blocks.js";
import type { BufferPool } from "./buffers.js";
import { popErrorScopes, pushErrorScopes } from "./gpu.js";
import type { PipelineCache } from "./shader.js";
import { crossEntropy as SOURCE } from "./wgsl.gen.js";

/** What a kernel host needs from its executor. */
export interface GpuContext {
  readonly device: GPUDevice;
  readonly pipelines: PipelineCache;
  readonly buffers: BufferPool;
  readonly limits: BlockLimits;
}

/** Bytes of the kernel's uniform block. */
export const PARAMS_BYTES = 48;
const FLAG_PROBS = 1;
const FLAG_GRAD = 2;
const FLAG_WEIGHTED = 4;

const { STORAGE, COPY_DST, COPY_SRC, MAP_READ, UNIFORM } = {
  STORAGE: 0x80,
  COPY_DST: 0x8,
  COPY_SRC: 0x4,
  MAP_READ: 0x1,
  UNIFORM: 0x40,
}; // GPUBufferUsage's values, fixed by the WebGPU spec (the global may not exist before a device does)

/** The same elements on an ArrayBuffer, as writeBuffer wants (a copy only when on a SharedArrayBuffer). */
export function onArrayBuffer(x: Float32Array | Int32Array): Float32Array<ArrayBuffer> | Int32Array<ArrayBuffer> {
  const buf = x.buffer;
  if (buf instanceof ArrayBuffer) return x instanceof Float32Array ? new Float32Array(buf, x.byteOffset, x.length) : new Int32Array(buf, x.byteOffset, x.length);
  return x instanceof Float32Array ? Float32Array.from(x) : Int32Array.from(x);
}

/**
 * The kernel's pipeline for rows of V classes. The typed-array paths upload into their own
 * buffer, so the gradient is always written over it.
 */
export function crossEntropyPipeline(pipelines: PipelineCache, v: number): Promise<GPUComputePipeline> {
  return pipelines.get("crossEntropy", SOURCE, [v % 4 === 0 ? "VEC4" : "SCALAR", "GRAD_INPLACE"]);
}

/** What the kernel's uniforms hold (Params in crossEntropy.wgsl), but rowBase (word 1: set per block). */
export interface CrossEntropyParams {
  v: number;
  probs: boolean;
  grad: boolean;
  weighted: boolean;
  labelSmoothing: number;
  zLoss: number;
  softcap: number;
  /** The reduction's gradient factor. */
  scale: number;
  /** W = Σ_j w_j. */
  wSum: number;
}

/** The kernel's uniform block, rowBase 0. */
export function crossEntropyParams(p: CrossEntropyParams): ArrayBuffer {
  const params = new ArrayBuffer(PARAMS_BYTES);
  const pu = new Uint32Array(params);
  const pf = new Float32Array(params);
  pu[0] = p.v;
  pu[2] = (p.probs ? FLAG_PROBS : 0) | (p.grad ? FLAG_GRAD : 0) | (p.weighted ? FLAG_WEIGHTED : 0);
  pf[4] = p.labelSmoothing;
  pf[5] = p.labelSmoothing / p.v;
  pf[6] = p.zLoss;
  pf[7] = p.softcap;
  pf[8] = p.scale;
  pf[9] = p.wSum;
  return params;
}

export async function crossEntropyGpu(ctx: GpuContext, args: CrossEntropyArgs): Promise<CrossEntropyResult> {
  const { logits, n, v, target, probs, gradOut } = args;
  // The loss options, read in one place.
  const { reduction, labelSmoothing, zLoss, softcap, classWeight } = args.spec;
  if (!(logits instanceof Float32Array)) {
    throw new TypeError(`webgpu backend: crossEntropy logits are a ${logits.constructor.name}; expected a Float32Array (the GPU kernel reads float32)`);
  }
  if (gradOut !== null && !(gradOut instanceof Float32Array)) {
    throw new TypeError(`webgpu backend: crossEntropy gradient output is a ${gradOut.constructor.name}; expected a Float32Array`);
  }
  const { device, buffers, pipelines } = ctx;
  const d = meanDenominator(target, args.spec, n);
  const scale = gradScale(reduction, d);
  const wSum = classWeightSum(args.spec, v);

  const pipeline = await crossEntropyPipeline(pipelines, v);

  const rowBytes = v * 4;
  const plan = planRowBlocks(n, rowBytes, ctx.limits, false);
  const blockBytes = plan.rowsPerBlock * rowBytes;

  pushErrorScopes(device);
  let failure: unknown = null;
  const rowRead = buffers.get("rows-read", n * 8, MAP_READ | COPY_DST);
  try {
    const xBuf = buffers.get("logits", blockBytes, STORAGE | COPY_DST | COPY_SRC);
    const probsBuf = probs !== null ? buffers.get("probs", blockBytes, STORAGE | COPY_DST) : buffers.get("probs-stub", 16, STORAGE);
    const weightBuf = classWeight !== null ? buffers.get("weight", rowBytes, STORAGE | COPY_DST) : buffers.get("weight-stub", 16, STORAGE);
    const targetBuf = buffers.get("target", n * 4, STORAGE | COPY_DST);
    const rowOutBuf = buffers.get("rows", n * 8, STORAGE | COPY_SRC);
    const paramsBuf = buffers.get("params", PARAMS_BYTES, UNIFORM | COPY_DST);
    const gradRead =
      gradOut !== null ? [buffers.get("grad-read-0", blockBytes, MAP_READ | COPY_DST), buffers.get("grad-read-1", blockBytes, MAP_READ | COPY_DST)] : [];

    const queue = device.queue;
    if (classWeight !== null) queue.writeBuffer(weightBuf, 0, Float32Array.from(classWeight));
    if (target !== null) queue.writeBuffer(targetBuf, 0, onArrayBuffer(target));
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: paramsBuf, size: PARAMS_BYTES } },
        { binding: 1, resource: { buffer: xBuf, size: blockBytes } },
        { binding: 2, resource: { buffer: targetBuf } },
        { binding: 3, resource: { buffer: probsBuf } },
        { binding: 4, resource: { buffer: weightBuf } },
        { binding: 5, resource: { buffer: rowOutBuf, size: n * 8 } },
      ],
    });

    const params = crossEntropyParams({ v, probs: probs !== null, grad: gradOut !== null, weighted: classWeight !== null, labelSmoothing, zLoss, softcap, scale, wSum });
    const pu = new Uint32Array(params);

    // Copy block k's gradient out of its readback buffer (the GPU meanwhile runs block k+1).
    const pending: (Promise<void> | null)[] = [null, null];
    const drain = async (slot: number): Promise<void> => {
      const p = pending[slot];
      pending[slot] = null;
      if (p !== null && p !== undefined) await p;
    };

    for (let b = 0; b < plan.blocks; b++) {
      const r0 = b * plan.rowsPerBlock;
      const rows = Math.min(plan.rowsPerBlock, n - r0);
      const e0 = r0 * v;
      const count = rows * v;
      const slot = b % 2;
      await drain(slot); // its readback buffer is free again
      pu[1] = r0;
      queue.writeBuffer(paramsBuf, 0, params);
      queue.writeBuffer(xBuf, 0, onArrayBuffer(logits.subarray(e0, e0 + count)));
      if (probs !== null) {
        const block = probs.subarray(e0, e0 + count);
        queue.writeBuffer(probsBuf, 0, block instanceof Float32Array ? onArrayBuffer(block) : Float32Array.from(block));
      }
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(rows);
      pass.end();
      const read = gradRead[slot];
      if (gradOut !== null && read !== undefined) enc.copyBufferToBuffer(xBuf, 0, read, 0, count * 4);
      queue.submit([enc.finish()]);
      if (gradOut !== null && read !== undefined) {
        pending[slot] = read.mapAsync(MAP_READ, 0, count * 4).then(() => {
          gradOut.set(new Float32Array(read.getMappedRange(0, count * 4)), e0);
          read.unmap();
        });
      }
    }
    await drain(0);
    await drain(1);

    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(rowOutBuf, 0, rowRead, 0, n * 8);
    queue.submit([enc.finish()]);
  } catch (e) {
    failure = e;
  }
  await popErrorScopes(device, `crossEntropy (N=${n}, V=${v})`, failure);

  await rowRead.mapAsync(MAP_READ, 0, n * 8);
  const rows32 = new Float32Array(rowRead.getMappedRange(0, n * 8).slice(0));
  rowRead.unmap();
  const rowLoss = new Float64Array(n);
  const lse = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    rowLoss[i] = rows32[2 * i]!;
    lse[i] = rows32[2 * i + 1]!;
  }
  return { loss: reduceLoss(rowLoss, args.spec, d), rowLoss, lse };
}
