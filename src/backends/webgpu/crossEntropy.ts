/// <reference types="@webgpu/types" />
/**
 * Host of the fused cross-entropy kernel (crossEntropy.wgsl): uploads float32 logits (N, V) a
 * block of rows at a time, runs one workgroup per row, reads back the gradient block by block
 * (double-buffered, so the GPU works on block k+1 while block k is copied out) and the per-row
 * loss and lse at the end. The batch reduction runs on the host, in float64 and row order, as on
 * every other backend.
 *
 * Few rows of a large vocabulary (`vocabSlices`) run in the split-vocabulary mode instead: S
 * workgroups per row, each over a slice of V; a statistics dispatch, then a gradient dispatch
 * whose workgroups each merge their row's slice records in slice order; the host merges the
 * records into the loss and lse (`mergeRecords`), in float64 and slice order.
 */
import { classWeightSum, gradScale, meanDenominator, reduceLoss } from "../common.js";
import type { CrossEntropyArgs, CrossEntropyResult } from "../types.js";
import { planRowBlocks, type BlockLimits } from "./blocks.js";
import type { BufferPool } from "./buffers.js";
import type { PipelineCache } from "./shader.js";
import type { PassTimer } from "./timer.js";
import { crossEntropy as SOURCE } from "./wgsl.gen.js";

/** What a kernel host needs from its executor. */
export interface GpuContext {
  readonly device: GPUDevice;
  readonly pipelines: PipelineCache;
  readonly buffers: BufferPool;
  readonly limits: BlockLimits;
  /** Reductions with subgroup operations (the device has the `subgroups` feature and they are not turned off). */
  readonly subgroups: boolean;
  /** Slices per row for every call (tests), or null for `vocabSlices(n, v)`. */
  readonly forceSlices: number | null;
  /** Times the kernels' passes (benchmarks), or null. */
  readonly timer: PassTimer | null;
}

/** Rows below which a call may split the vocabulary: fewer row workgroups than a large GPU has cores × 2. */
export const SPLIT_MAX_ROWS = 64;
/** Fewest classes of a slice (16 per invocation of a 256-wide workgroup). */
export const SPLIT_MIN_CLASSES = 4096;
/** Workgroups the split aims at: enough to occupy a large GPU (about 100 to 150 compute units). */
export const SPLIT_TARGET_WORKGROUPS = 256;

/**
 * Vocabulary slices per row for a call of N rows of V classes: 1 (one workgroup per row) from
 * SPLIT_MAX_ROWS rows on, else enough slices for about SPLIT_TARGET_WORKGROUPS workgroups, each
 * of at least SPLIT_MIN_CLASSES classes. A function of the shape only (not of the device or the
 * timing), so a shape always gives the same bits on one device. N = 1 to 8 at V = 128256: 31.
 */
export function vocabSlices(n: number, v: number): number {
  if (n >= SPLIT_MAX_ROWS) return 1;
  return Math.max(1, Math.min(Math.floor(v / SPLIT_MIN_CLASSES), Math.ceil(SPLIT_TARGET_WORKGROUPS / n)));
}

/** Floats of one slice record in the split mode: max, Σ exp, Σ w·t', target logit, flags, loss terms (crossEntropy.wgsl REC). */
const REC = 6;

const PARAMS_BYTES = 48;
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
function onArrayBuffer(x: Float32Array | Int32Array): Float32Array<ArrayBuffer> | Int32Array<ArrayBuffer> {
  const buf = x.buffer;
  if (buf instanceof ArrayBuffer) return x instanceof Float32Array ? new Float32Array(buf, x.byteOffset, x.length) : new Int32Array(buf, x.byteOffset, x.length);
  return x instanceof Float32Array ? Float32Array.from(x) : Int32Array.from(x);
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

  const vec4 = v % 4 === 0;
  // The typed-array path uploads into its own buffer, so the gradient is always written over it.
  const defines = [vec4 ? "VEC4" : "SCALAR", "GRAD_INPLACE"];
  if (ctx.subgroups) defines.push("SUBGROUPS");
  const pipeline = await pipelines.get("crossEntropy", SOURCE, defines);
  const slices = ctx.forceSlices ?? vocabSlices(n, v);
  const split = slices > 1;
  // The split mode's second dispatch: the gradient, or the loss terms summed over the row.
  const phase2 = split && (gradOut !== null || probs !== null || labelSmoothing > 0);
  const outBytes = split ? n * slices * REC * 4 : n * 8;

  const rowBytes = v * 4;
  const plan = planRowBlocks(n, rowBytes, ctx.limits, false);
  const blockBytes = plan.rowsPerBlock * rowBytes;

  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  let failure: unknown = null;
  const rowRead = buffers.get("rows-read", outBytes, MAP_READ | COPY_DST);
  try {
    const xBuf = buffers.get("logits", blockBytes, STORAGE | COPY_DST | COPY_SRC);
    const probsBuf = probs !== null ? buffers.get("probs", blockBytes, STORAGE | COPY_DST) : buffers.get("probs-stub", 16, STORAGE);
    const weightBuf = classWeight !== null ? buffers.get("weight", rowBytes, STORAGE | COPY_DST) : buffers.get("weight-stub", 16, STORAGE);
    const targetBuf = buffers.get("target", n * 4, STORAGE | COPY_DST);
    const rowOutBuf = buffers.get("rows", outBytes, STORAGE | COPY_SRC);
    const paramsBuf = buffers.get("params", PARAMS_BYTES, UNIFORM | COPY_DST);
    const params2Buf = phase2 ? buffers.get("params-2", PARAMS_BYTES, UNIFORM | COPY_DST) : null;
    const gradRead =
      gradOut !== null ? [buffers.get("grad-read-0", blockBytes, MAP_READ | COPY_DST), buffers.get("grad-read-1", blockBytes, MAP_READ | COPY_DST)] : [];

    const queue = device.queue;
    if (classWeight !== null) queue.writeBuffer(weightBuf, 0, Float32Array.from(classWeight));
    if (target !== null) queue.writeBuffer(targetBuf, 0, onArrayBuffer(target));
    const bindParams = (buffer: GPUBuffer): GPUBindGroup =>
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer, size: PARAMS_BYTES } },
          { binding: 1, resource: { buffer: xBuf, size: blockBytes } },
          { binding: 2, resource: { buffer: targetBuf } },
          { binding: 3, resource: { buffer: probsBuf } },
          { binding: 4, resource: { buffer: weightBuf } },
          { binding: 5, resource: { buffer: rowOutBuf, size: outBytes } },
        ],
      });
    const bindGroup = bindParams(paramsBuf);
    const bindGroup2 = params2Buf !== null ? bindParams(params2Buf) : null;

    const params = new ArrayBuffer(PARAMS_BYTES);
    const pu = new Uint32Array(params);
    const pf = new Float32Array(params);
    pu[0] = v;
    pu[2] = (probs !== null ? FLAG_PROBS : 0) | (gradOut !== null ? FLAG_GRAD : 0) | (classWeight !== null ? FLAG_WEIGHTED : 0);
    pf[4] = labelSmoothing;
    pf[5] = labelSmoothing / v;
    pf[6] = zLoss;
    pf[7] = softcap;
    pf[8] = scale;
    pf[9] = wSum;
    pu[10] = slices;
    pu[11] = split ? 1 : 0; // phase: fused, or the split mode's statistics
    const params2 = params.slice(0);
    const pu2 = new Uint32Array(params2);
    pu2[11] = 2; // the split mode's gradient and loss terms

    const timer = ctx.timer;
    timer?.begin(plan.blocks);
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
      pu2[1] = r0;
      queue.writeBuffer(paramsBuf, 0, params);
      if (params2Buf !== null) queue.writeBuffer(params2Buf, 0, params2);
      queue.writeBuffer(xBuf, 0, onArrayBuffer(logits.subarray(e0, e0 + count)));
      if (probs !== null) {
        const block = probs.subarray(e0, e0 + count);
        queue.writeBuffer(probsBuf, 0, block instanceof Float32Array ? onArrayBuffer(block) : Float32Array.from(block));
      }
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass(timer !== null ? { timestampWrites: timer.next() } : {});
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(slices, rows);
      if (bindGroup2 !== null) {
        pass.setBindGroup(0, bindGroup2); // reads the statistics dispatch's records
        pass.dispatchWorkgroups(slices, rows);
      }
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
    enc.copyBufferToBuffer(rowOutBuf, 0, rowRead, 0, outBytes);
    timer?.resolve(enc);
    queue.submit([enc.finish()]);
  } catch (e) {
    failure = e;
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  const err = validation ?? oom;
  if (err !== null) throw new Error(`webgpu backend: crossEntropy (N=${n}, V=${v}) failed on the GPU: ${err.message}`);
  if (failure !== null) throw failure;

  await ctx.timer?.read();
  await rowRead.mapAsync(MAP_READ, 0, outBytes);
  const rows32 = new Float32Array(rowRead.getMappedRange(0, outBytes).slice(0));
  rowRead.unmap();
  const { rowLoss, lse } = split ? mergeRecords(args, rows32, slices) : unpackRows(rows32, n);
  return { loss: reduceLoss(rowLoss, args.spec, d), rowLoss, lse };
}

/** The fused kernel's (N, 2) loss and lse per row. */
function unpackRows(rows32: Float32Array, n: number): { rowLoss: Float64Array; lse: Float64Array } {
  const rowLoss = new Float64Array(n);
  const lse = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    rowLoss[i] = rows32[2 * i]!;
    lse[i] = rows32[2 * i + 1]!;
  }
  return { rowLoss, lse };
}

/**
 * The split mode's (N, slices, REC) records merged per row, in float64 and slice order, into the
 * loss and lse the fused kernel gives: lse = M + log Σ_k s_k·exp(m_k − M); the loss from the
 * target logit and the loss terms the gradient dispatch summed over each slice, Σ w·t'·(lse − c)
 * (probabilities) or Σ w·(lse − c) (smoothing), as the fused kernel's pass 2 does, rather than
 * from Σ w·c (common.ts mergeStats), whose difference with lse·Σ w·t' cancels in float32.
 * Flags: 1 a NaN logit, 2 a +Infinity one (crossEntropy.wgsl badT).
 */
function mergeRecords(args: CrossEntropyArgs, rec: Float32Array, slices: number): { rowLoss: Float64Array; lse: Float64Array } {
  const { n, v, target } = args;
  const { labelSmoothing: eps, zLoss: z, classWeight } = args.spec;
  const rowLoss = new Float64Array(n);
  const lse = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r0 = i * slices * REC;
    let m = -Infinity;
    for (let k = 0; k < slices; k++) m = Math.max(m, rec[r0 + k * REC]!);
    let sum = 0;
    let cy = 0;
    let part = 0;
    let flags = 0;
    for (let k = 0; k < slices; k++) {
      const r = r0 + k * REC;
      const mk = rec[r]!;
      if (mk !== -Infinity) sum += rec[r + 1]! * Math.exp(mk - m);
      cy += rec[r + 3]!;
      flags |= rec[r + 4]!;
      part += rec[r + 5]!;
    }
    const l = flags !== 0 ? NaN : m === -Infinity ? m : m + Math.log(sum);
    lse[i] = flags === 2 ? Infinity : l;
    const y = target === null ? 0 : target[i]!;
    if (y < 0) continue; // ignored: loss 0
    let loss: number;
    if (target === null) {
      loss = part;
    } else {
      loss = (1 - eps) * (classWeight === null ? 1 : classWeight[y]!) * (l - cy);
      if (eps > 0) loss += (eps / v) * part;
    }
    if (z > 0) loss += z * l * l;
    rowLoss[i] = flags !== 0 || m === -Infinity ? NaN : loss;
  }
  return { rowLoss, lse };
}
