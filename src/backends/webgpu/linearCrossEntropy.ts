/// <reference types="@webgpu/types" />
/**
 * The fused linear head on the GPU: logits = hidden (N, D) · weightᵀ (D, V) + bias (V) and the
 * cross-entropy on them, with the gradients for hidden, weight and bias, without the (N, V)
 * logits ever existing at once. As the CPU kernels, it works a chunk of R rows at a time, in one
 * (R, V) scratch buffer:
 *   1. logits (R, V) = hidden[chunk] (R, D) · weightᵀ (+ bias)           matmul.wgsl
 *   2. loss, lse and dL/dlogits (R, V) written over the logits          crossEntropy.wgsl
 *   3. gradHidden[chunk] (R, D) = G (R, V) · weight (V, D)               matmul.wgsl
 *      (split over slices of the vocabulary when R·D has too few tiles; columnSum.wgsl adds them)
 *      gradWeight (V, D)      += Gᵀ (V, R) · hidden[chunk] (R, D)
 *      gradBias (V)           += column sums of G                      columnSum.wgsl
 * Every chunk is one command buffer; gradWeight and gradBias accumulate in chunk order, so the
 * results are bitwise repeatable (no atomics). A weight larger than one storage binding is held
 * in blocks of rows (vocabulary blocks), each its own buffer; every product then runs per block
 * (the logits' column block, gradHidden accumulating over blocks).
 *
 * A temperature τ is folded into the products: the logits are scaled by 1/τ in step 1, the
 * kernel's softcap becomes s/τ (s·tanh(x/s)/τ = (s/τ)·tanh((x/τ)/(s/τ))) and the gradient of the
 * scaled logits carries 1/τ. The gradient filter (a speed option of the CPU kernels) is not
 * used: the gradient is exact, as the reference's.
 */
import { classWeightSum, gradScale, meanDenominator, reduceLoss } from "../common.js";
import type { FloatArray, LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import type { BlockLimits } from "./blocks.js";
import { USAGE } from "./buffers.js";
import { COLUMN_SUM_PARAMS_BYTES, COLUMN_SUM_WG, columnSumPipeline, writeColumnSumParams } from "./columnSum.js";
import { crossEntropyParams, crossEntropyPipeline, onArrayBuffer, PARAMS_BYTES, type GpuContext } from "./crossEntropy.js";
import { popErrorScopes, pushErrorScopes } from "./gpu.js";
import { MATMUL_PARAMS_BYTES, matmulGrid, matmulPipeline, writeMatmulParams, type MatmulShape } from "./matmul.js";

const { STORAGE, COPY_DST, COPY_SRC, MAP_READ, UNIFORM } = USAGE;

/** Largest piece of gradWeight copied out through a staging buffer at once (two are used in turn). */
const STAGE_BYTES = 64 * 2 ** 20;

/** How a call is cut: R rows per chunk, and the weight in blocks of `vBlock` rows. */
export interface LinearPlan {
  rows: number;
  vBlock: number;
  blocks: number;
  /** gradHidden's product split over this many slices of a block's vocabulary (1: not split). */
  slices: number;
}

/** Workgroups gradHidden's product should have at least; below, its K (a vocabulary block) is split. */
const SPLIT_TARGET = 1024;
/** Fewest classes in one slice of a split. */
const SPLIT_MIN_K = 256;

/**
 * The chunk and weight-block sizes of an (N, D, V) call under the device's limits: R is
 * chunkRows, or fewer so that the (R, V) logits and the (R, D) hidden chunk each fit one binding
 * and the cross-entropy's one workgroup per row fits a dispatch (then a multiple of 64 rows when
 * at least 64 fit); weight blocks are the most rows
 * of D that fit one binding (a multiple of 4 when blocked, for vec4 access). gradHidden's
 * product (R, D) has only ⌈R/64⌉·⌈D/64⌉ output tiles but a long K (the vocabulary): it is split
 * into slices of K (each summed into its own (R, D) copy, then added in slice order) until it has
 * about SPLIT_TARGET workgroups, slices of at least SPLIT_MIN_K classes, all copies in one
 * binding. A string says why nothing fits.
 */
export function planLinear(n: number, d: number, v: number, chunkRows: number, limits: BlockLimits): LinearPlan | string {
  const { maxBindingBytes, maxWorkgroups } = limits;
  if (v * 4 > maxBindingBytes) return `a row of ${v * 4} bytes of logits exceeds the device's largest storage binding (${maxBindingBytes} bytes)`;
  if (d * 16 > maxBindingBytes) return `4 rows of D = ${d} float32 exceed the device's largest storage binding (${maxBindingBytes} bytes)`;
  const wide = COLUMN_SUM_WG * maxWorkgroups; // columns one column-sum dispatch covers
  if (v > wide || d > wide) return `V = ${v} or D = ${d} needs more than ${maxWorkgroups} workgroups in one dispatch`;
  const rowsFit = Math.min(Math.floor(maxBindingBytes / (v * 4)), Math.floor(maxBindingBytes / (d * 4)), Math.floor(wide / d), maxWorkgroups);
  // Cut by the limits, a chunk keeps whole 64-row tiles of the products when it can.
  const rows = Math.min(chunkRows, n) <= rowsFit ? Math.min(chunkRows, n) : rowsFit >= 64 ? rowsFit - (rowsFit % 64) : rowsFit;
  const wFit = Math.min(Math.floor(maxBindingBytes / (d * 4)), 64 * maxWorkgroups);
  const vBlock = wFit >= v ? v : wFit - (wFit % 4);
  const tiles = Math.ceil(rows / 64) * Math.ceil(d / 64);
  const slices = Math.max(1, Math.min(Math.ceil(SPLIT_TARGET / tiles), Math.floor(vBlock / SPLIT_MIN_K), Math.floor(maxBindingBytes / (rows * d * 4)), maxWorkgroups));
  return { rows, vBlock, blocks: Math.ceil(v / vBlock), slices };
}

/** A float32 argument (or null); other element types run on the CPU (the executor's `supports`). */
function float32(name: string, x: FloatArray): Float32Array {
  if (x instanceof Float32Array) return x;
  throw new TypeError(`webgpu backend: linearCrossEntropy ${name} is a ${x.constructor.name}; expected a Float32Array (the GPU kernels read float32)`);
}

/** Bytes of a uniform slot: every dispatch of a chunk reads its own slot of one buffer. */
function slotBytes(device: GPUDevice): number {
  return Math.max(256, device.limits.minUniformBufferOffsetAlignment);
}

export async function linearCrossEntropyGpu(ctx: GpuContext, args: LinearCrossEntropyArgs): Promise<LinearCrossEntropyResult> {
  const { n, d, v, target, probs, spec } = args;
  const hidden = float32("hidden", args.hidden);
  const weight = float32("weight", args.weight);
  const bias = args.bias === null ? null : float32("bias", args.bias);
  const gradHidden = args.gradHidden === null ? null : float32("gradHidden", args.gradHidden);
  const gradWeight = args.gradWeight === null ? null : float32("gradWeight", args.gradWeight);
  const gradBias = args.gradBias === null ? null : float32("gradBias", args.gradBias);
  const plan = planLinear(n, d, v, args.chunkRows, ctx.limits);
  if (typeof plan === "string") throw new RangeError(`webgpu backend: linearCrossEntropy (N=${n}, D=${d}, V=${v}): ${plan}`);
  const { device, buffers, pipelines } = ctx;
  const grad = gradHidden !== null && gradWeight !== null;
  const R = plan.rows;

  const denom = meanDenominator(target, spec, n);
  const tau = spec.temperature;
  const ceParams = crossEntropyParams({
    v,
    probs: probs !== null,
    grad,
    weighted: spec.classWeight !== null,
    labelSmoothing: spec.labelSmoothing,
    zLoss: spec.zLoss,
    softcap: spec.softcap / tau,
    scale: gradScale(spec.reduction, denom) / tau,
    wSum: classWeightSum(spec, v),
  });

  // The products of one chunk of `rows` rows, per weight block (j0, vb).
  const blocks = Array.from({ length: plan.blocks }, (_, b) => ({ j0: b * plan.vBlock, vb: Math.min(plan.vBlock, v - b * plan.vBlock) }));
  const forward = (rows: number, j0: number, vb: number): MatmulShape => ({
    m: rows, n: vb, k: d, alpha: 1 / tau, biasOff: bias !== null ? j0 : null, accumulate: false,
    a: { off: 0, ld: d, transposed: false }, b: { off: 0, ld: d, transposed: true }, c: { off: j0, ld: v },
  });
  // gradHidden: straight into the (R, D) chunk, accumulating over blocks; or split in slices of
  // kSplit classes into the (slices, R, D) partial buffer, then summed into the chunk in order.
  const split = plan.slices > 1;
  const kSplit = (vb: number): number => Math.ceil(vb / plan.slices / 16) * 16;
  const dHidden = (rows: number, j0: number, vb: number, first: boolean): MatmulShape => ({
    m: rows, n: d, k: vb, alpha: 1, biasOff: null, accumulate: !first && !split,
    a: { off: j0, ld: v, transposed: false }, b: { off: 0, ld: d, transposed: false }, c: { off: 0, ld: d },
    split: split ? { slices: Math.ceil(vb / kSplit(vb)), k: kSplit(vb), cStride: R * d } : undefined,
  });
  const dWeight = (rows: number, j0: number, vb: number): MatmulShape => ({
    m: vb, n: d, k: rows, alpha: 1, biasOff: null, accumulate: true,
    a: { off: j0, ld: v, transposed: true }, b: { off: 0, ld: d, transposed: false }, c: { off: 0, ld: d },
  });
  // The vec4 variants depend on D, V and the block, never on the chunk's row count.
  const fwdPipes = await Promise.all(blocks.map(({ j0, vb }) => matmulPipeline(pipelines, forward(R, j0, vb))));
  const ghPipes = grad ? await Promise.all(blocks.map(({ j0, vb }) => matmulPipeline(pipelines, dHidden(R, j0, vb, true)))) : [];
  const gwPipes = grad ? await Promise.all(blocks.map(({ j0, vb }) => matmulPipeline(pipelines, dWeight(R, j0, vb)))) : [];
  const cePipe = await crossEntropyPipeline(ctx, v);
  const sumPipe = grad && (bias !== null || split) ? await columnSumPipeline(pipelines) : null;

  // Uniform slots of a chunk: [ce, the bias column sum, then per block fwd, gh, gw and gh's slice sum].
  const slot = slotBytes(device);
  const nSlots = 2 + 4 * plan.blocks;
  const at = {
    ce: 0, sum: slot, fwd: (b: number) => (2 + 4 * b) * slot, gh: (b: number) => (3 + 4 * b) * slot, gw: (b: number) => (4 + 4 * b) * slot,
    slices: (b: number) => (5 + 4 * b) * slot,
  };

  // (at most one binding too, so that the tests' small limits run several rounds)
  const stageBytes = Math.min(STAGE_BYTES, ctx.limits.maxBindingBytes, v * d * 4);
  const partBytes = grad && split ? plan.slices * R * d * 4 : 0;
  const scratchBytes = R * v * 4 * (probs !== null ? 2 : 1) + R * d * 4 * (grad ? 2 : 1) + partBytes + n * 8 + nSlots * slot + (grad ? 2 * stageBytes : 0);

  pushErrorScopes(device);
  let failure: unknown = null;
  const rowRead = buffers.get("lin-rows-read", n * 8, MAP_READ | COPY_DST);
  const ghRead = grad ? buffers.get("lin-grad-hidden-read", n * d * 4, MAP_READ | COPY_DST) : null;
  const gbRead = grad && bias !== null ? buffers.get("lin-grad-bias-read", v * 4, MAP_READ | COPY_DST) : null;
  const gwBufs = grad ? blocks.map(({ vb }, b) => buffers.get(`lin-grad-weight-${b}`, vb * d * 4, STORAGE | COPY_SRC | COPY_DST)) : [];
  try {
    const queue = device.queue;
    const wBufs = blocks.map(({ vb }, b) => buffers.get(`lin-weight-${b}`, vb * d * 4, STORAGE | COPY_DST));
    const hBuf = buffers.get("lin-hidden", R * d * 4, STORAGE | COPY_DST);
    const ghBuf = grad ? buffers.get("lin-grad-hidden", R * d * 4, STORAGE | COPY_SRC | COPY_DST) : null;
    const partBuf = partBytes > 0 ? buffers.get("lin-grad-hidden-slices", partBytes, STORAGE) : null;
    const xBuf = buffers.get("lin-logits", R * v * 4, STORAGE);
    const probsBuf = probs !== null ? buffers.get("lin-probs", R * v * 4, STORAGE | COPY_DST) : buffers.get("probs-stub", 16, STORAGE);
    const biasBuf = bias !== null ? buffers.get("lin-bias", v * 4, STORAGE | COPY_DST) : buffers.get("bias-stub", 16, STORAGE);
    const gbBuf = gbRead !== null ? buffers.get("lin-grad-bias", v * 4, STORAGE | COPY_SRC | COPY_DST) : null;
    const cwBuf = spec.classWeight !== null ? buffers.get("weight", v * 4, STORAGE | COPY_DST) : buffers.get("weight-stub", 16, STORAGE);
    const targetBuf = buffers.get("target", n * 4, STORAGE | COPY_DST);
    const rowOutBuf = buffers.get("rows", n * 8, STORAGE | COPY_SRC);
    const paramsBuf = buffers.get("lin-params", nSlots * slot, UNIFORM | COPY_DST);

    for (const [b, { j0, vb }] of blocks.entries()) queue.writeBuffer(wBufs[b]!, 0, onArrayBuffer(weight.subarray(j0 * d, (j0 + vb) * d)));
    if (bias !== null) queue.writeBuffer(biasBuf, 0, onArrayBuffer(bias));
    if (spec.classWeight !== null) queue.writeBuffer(cwBuf, 0, Float32Array.from(spec.classWeight));
    if (target !== null) queue.writeBuffer(targetBuf, 0, onArrayBuffer(target));

    const group = (pipe: GPUComputePipeline, offset: number, size: number, ...bufs: GPUBuffer[]): GPUBindGroup =>
      device.createBindGroup({
        layout: pipe.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: paramsBuf, offset, size } }, ...bufs.map((buffer, i) => ({ binding: i + 1, resource: { buffer } }))],
      });
    const fwdGroups = blocks.map((_, b) => group(fwdPipes[b]!, at.fwd(b), MATMUL_PARAMS_BYTES, hBuf, wBufs[b]!, xBuf, biasBuf));
    const ceGroup = group(cePipe, at.ce, PARAMS_BYTES, xBuf, targetBuf, probsBuf, cwBuf, rowOutBuf);
    const ghGroups = ghBuf === null ? [] : blocks.map((_, b) => group(ghPipes[b]!, at.gh(b), MATMUL_PARAMS_BYTES, xBuf, wBufs[b]!, partBuf ?? ghBuf, biasBuf));
    const sliceGroups = sumPipe === null || partBuf === null || ghBuf === null ? [] : blocks.map((_, b) => group(sumPipe, at.slices(b), COLUMN_SUM_PARAMS_BYTES, partBuf, ghBuf));
    const gwGroups = blocks.map((_, b) => (grad ? group(gwPipes[b]!, at.gw(b), MATMUL_PARAMS_BYTES, xBuf, hBuf, gwBufs[b]!, biasBuf) : null));
    const sumGroup = sumPipe !== null && gbBuf !== null ? group(sumPipe, at.sum, COLUMN_SUM_PARAMS_BYTES, xBuf, gbBuf) : null;
    const sliceCount = (vb: number): number => dHidden(R, 0, vb, true).split?.slices ?? 1;

    const init = device.createCommandEncoder();
    for (const buf of gwBufs) init.clearBuffer(buf);
    if (gbBuf !== null) init.clearBuffer(gbBuf);
    queue.submit([init.finish()]);

    const params = new ArrayBuffer(nSlots * slot);
    for (let r0 = 0; r0 < n; r0 += R) {
      const rows = Math.min(R, n - r0);
      new Uint8Array(params, at.ce, PARAMS_BYTES).set(new Uint8Array(ceParams));
      new Uint32Array(params, at.ce, 2)[1] = r0; // rowBase: targets and per-row outputs are global
      for (const [b, { j0, vb }] of blocks.entries()) {
        writeMatmulParams(params, at.fwd(b), forward(rows, j0, vb));
        writeMatmulParams(params, at.gh(b), dHidden(rows, j0, vb, b === 0));
        writeMatmulParams(params, at.gw(b), dWeight(rows, j0, vb));
        writeColumnSumParams(params, at.slices(b), sliceCount(vb), rows * d, R * d);
      }
      writeColumnSumParams(params, at.sum, rows, v, v);
      queue.writeBuffer(paramsBuf, 0, params);
      queue.writeBuffer(hBuf, 0, onArrayBuffer(hidden.subarray(r0 * d, (r0 + rows) * d)));
      if (probs !== null) {
        const p = probs.subarray(r0 * v, (r0 + rows) * v);
        queue.writeBuffer(probsBuf, 0, p instanceof Float32Array ? onArrayBuffer(p) : Float32Array.from(p));
      }

      const enc = device.createCommandEncoder();
      if (split && ghBuf !== null) enc.clearBuffer(ghBuf); // the slice sums add into it
      const pass = enc.beginComputePass();
      const run = (pipe: GPUComputePipeline, g: GPUBindGroup, x: number, y = 1, z = 1): void => {
        pass.setPipeline(pipe);
        pass.setBindGroup(0, g);
        pass.dispatchWorkgroups(x, y, z);
      };
      for (const [b, { j0, vb }] of blocks.entries()) run(fwdPipes[b]!, fwdGroups[b]!, ...matmulGrid(forward(rows, j0, vb)));
      run(cePipe, ceGroup, 1, rows); // (slices, rows): whole rows
      if (grad) {
        for (const [b, { j0, vb }] of blocks.entries()) {
          run(ghPipes[b]!, ghGroups[b]!, ...matmulGrid(dHidden(rows, j0, vb, b === 0)));
          if (sumPipe !== null && split) run(sumPipe, sliceGroups[b]!, Math.ceil((rows * d) / COLUMN_SUM_WG));
        }
        for (const [b, { j0, vb }] of blocks.entries()) run(gwPipes[b]!, gwGroups[b]!, ...matmulGrid(dWeight(rows, j0, vb)));
        if (sumPipe !== null && sumGroup !== null) run(sumPipe, sumGroup, Math.ceil(v / COLUMN_SUM_WG));
      }
      pass.end();
      if (ghBuf !== null && ghRead !== null) enc.copyBufferToBuffer(ghBuf, 0, ghRead, r0 * d * 4, rows * d * 4);
      queue.submit([enc.finish()]);
    }

    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(rowOutBuf, 0, rowRead, 0, n * 8);
    if (gbBuf !== null && gbRead !== null) enc.copyBufferToBuffer(gbBuf, 0, gbRead, 0, v * 4);
    queue.submit([enc.finish()]);
  } catch (e) {
    failure = e;
  }
  await popErrorScopes(device, `linearCrossEntropy (N=${n}, D=${d}, V=${v})`, failure);

  // Every readback at once: per-row values, gradHidden, gradBias, and gradWeight through two
  // staging buffers, a piece of at most STAGE_BYTES of the flat (V, D) array at a time.
  const read = (buf: GPUBuffer, bytes: number, into: (data: Float32Array) => void): Promise<void> =>
    buf.mapAsync(MAP_READ, 0, bytes).then(() => {
      into(new Float32Array(buf.getMappedRange(0, bytes)));
      buf.unmap();
    });
  const rowLoss = new Float64Array(n);
  const lse = new Float64Array(n);
  const reads = [
    read(rowRead, n * 8, (rows32) => {
      for (let i = 0; i < n; i++) {
        rowLoss[i] = rows32[2 * i]!;
        lse[i] = rows32[2 * i + 1]!;
      }
    }),
  ];
  if (ghRead !== null && gradHidden !== null) reads.push(read(ghRead, n * d * 4, (x) => gradHidden.set(x)));
  if (gbRead !== null && gradBias !== null) reads.push(read(gbRead, v * 4, (x) => gradBias.set(x)));
  if (gradWeight !== null) {
    const stages = [buffers.get("lin-stage-0", stageBytes, MAP_READ | COPY_DST), buffers.get("lin-stage-1", stageBytes, MAP_READ | COPY_DST)] as const;
    reads.push(readBlocks(device, stages, stageBytes / 4, gwBufs, plan.vBlock * d, gradWeight, read));
  }
  await Promise.all(reads);
  return { loss: reduceLoss(rowLoss, spec, denom), rowLoss, lse, scratchBytes };
}

/**
 * Copy buffers holding consecutive blocks of `blockLen` float32 (the last may be shorter) into
 * `out`, `cap` elements of the flat array per round through two staging buffers in turn, so that
 * the GPU copies round k+1 while round k is copied out on the host.
 */
async function readBlocks(
  device: GPUDevice,
  stages: readonly [GPUBuffer, GPUBuffer],
  cap: number,
  blocks: readonly GPUBuffer[],
  blockLen: number,
  out: Float32Array,
  read: (buf: GPUBuffer, bytes: number, into: (data: Float32Array) => void) => Promise<void>,
): Promise<void> {
  let prev: Promise<void> = Promise.resolve();
  for (let s = 0, round = 0; s < out.length; s += cap, round++) {
    const e = Math.min(s + cap, out.length);
    const stage = stages[round % 2]!;
    const enc = device.createCommandEncoder();
    for (let b = Math.floor(s / blockLen); b * blockLen < e; b++) {
      const from = Math.max(s, b * blockLen);
      const to = Math.min(e, (b + 1) * blockLen);
      enc.copyBufferToBuffer(blocks[b]!, (from - b * blockLen) * 4, stage, (from - s) * 4, (to - from) * 4);
    }
    device.queue.submit([enc.finish()]);
    await prev; // round k-1 is copied out (and its stage, the other one, unmapped)
    prev = read(stage, (e - s) * 4, (x) => out.set(x, s));
  }
  await prev;
}
