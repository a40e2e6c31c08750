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
 *   (with per-row upstream factors, G's rows are first multiplied by them: rowScale.wgsl)
 * Every chunk is one command buffer; gradWeight and gradBias accumulate in chunk order, so the
 * results are bitwise repeatable (no atomics). A weight larger than one storage binding is held
 * in blocks of rows (vocabulary blocks); every product then runs per block (the logits' column
 * block, gradHidden accumulating over blocks).
 *
 * One submission routine (`submit`) serves both entry points. Its operands are host arrays,
 * uploaded into the executor's buffers (hidden a chunk at a time, the weight a buffer per block),
 * or views of GPU buffers, bound where they lie (each chunk or block at the aligned offset at or
 * below it, the rest as a uniform offset): `linearCrossEntropyGpu` (typed arrays in and out)
 * uploads, submits and reads the results back; `linearCrossEntropyGpuSync` submits at once and
 * leaves the results on the GPU.
 *
 * A temperature τ is folded into the products: the logits are scaled by 1/τ in step 1, the
 * kernel's softcap becomes s/τ (s·tanh(x/s)/τ = (s/τ)·tanh((x/τ)/(s/τ))) and the gradient of the
 * scaled logits carries 1/τ. The gradient filter (a speed option of the CPU kernels) is not
 * used: the gradient is exact, as the reference's.
 */
import { classWeightSum, gradScale, meanDenominator, reduceLoss } from "../common.js";
import type { FloatArray, GpuInput, GpuLinearArgs, GpuLinearSubmission, LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import { bindAt, type BlockLimits } from "./blocks.js";
import { USAGE } from "./buffers.js";
import { COLUMN_SUM_KERNEL, COLUMN_SUM_PARAMS_BYTES, COLUMN_SUM_WG, writeColumnSumParams } from "./columnSum.js";
import { crossEntropyParams, onArrayBuffer, PARAMS_BYTES, rowsKernel, type GpuContext } from "./crossEntropy.js";
import { popErrorScopes, pushErrorScopes } from "./gpu.js";
import { MATMUL_PARAMS_BYTES, matmulGrid, matmulKernel, writeMatmulParams, type MatmulShape } from "./matmul.js";
import { ROW_SCALE_KERNEL, ROW_SCALE_PARAMS_BYTES, ROW_SCALE_WG, writeRowScaleParams } from "./rowScale.js";
import type { KernelVariant } from "./shader.js";

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
 * binding. `slack`: bytes a hidden chunk's and a weight block's bindings may need beyond their
 * data (bound at an aligned offset below it). A string says why nothing fits.
 */
export function planLinear(n: number, d: number, v: number, chunkRows: number, limits: BlockLimits, slack = 0): LinearPlan | string {
  const { maxBindingBytes, maxWorkgroups } = limits;
  const viewBytes = maxBindingBytes - slack; // a hidden chunk or weight block bound at an offset
  if (v * 4 > maxBindingBytes) return `a row of ${v * 4} bytes of logits exceeds the device's largest storage binding (${maxBindingBytes} bytes)`;
  if (d * 16 > viewBytes) {
    return `4 rows of D = ${d} float32 exceed the device's largest storage binding (${maxBindingBytes} bytes${slack > 0 ? `, less ${slack} for an aligned offset` : ""})`;
  }
  const wide = COLUMN_SUM_WG * maxWorkgroups; // columns one column-sum dispatch covers
  if (v > wide || d > wide) return `V = ${v} or D = ${d} needs more than ${maxWorkgroups} workgroups in one dispatch`;
  const rowsFit = Math.min(Math.floor(maxBindingBytes / (v * 4)), Math.floor(viewBytes / (d * 4)), Math.floor(wide / d), maxWorkgroups);
  // Cut by the limits, a chunk keeps whole 64-row tiles of the products when it can.
  const rows = Math.min(chunkRows, n) <= rowsFit ? Math.min(chunkRows, n) : rowsFit >= 64 ? rowsFit - (rowsFit % 64) : rowsFit;
  const wFit = Math.min(Math.floor(viewBytes / (d * 4)), 64 * maxWorkgroups);
  const vBlock = wFit >= v ? v : wFit - (wFit % 4);
  const tiles = Math.ceil(rows / 64) * Math.ceil(d / 64);
  const slices = Math.max(1, Math.min(Math.ceil(SPLIT_TARGET / tiles), Math.floor(vBlock / SPLIT_MIN_K), Math.floor(maxBindingBytes / (rows * d * 4)), maxWorkgroups));
  return { rows, vBlock, blocks: Math.ceil(v / vBlock), slices };
}

/** A float32 argument; other element types run on the CPU (the executor's `supports`). */
function float32(name: string, x: FloatArray): Float32Array {
  if (x instanceof Float32Array) return x;
  throw new TypeError(`webgpu backend: linearCrossEntropy ${name} is a ${x.constructor.name}; expected a Float32Array (the GPU kernels read float32)`);
}

/** Bytes of a uniform slot: every dispatch of a chunk reads its own slot of one buffer. */
function slotBytes(device: GPUDevice): number {
  return Math.max(256, device.limits.minUniformBufferOffsetAlignment);
}

/** An operand: host values (uploaded by the call into the executor's buffers) or a GPU buffer's view. */
type Operand = Float32Array | GpuInput;

/** Where a block of gradWeight is accumulated: `buffer` from byte `offset`. */
interface At {
  readonly buffer: GPUBuffer;
  readonly offset: number;
}

/**
 * A call cut into chunks and weight blocks, before anything is on the GPU: the plan, the
 * products' shapes (with where each operand starts in its binding) and the kernel variants they
 * need. `whole`: gradWeight in one buffer, its blocks bound at offsets (the GPU-resident results
 * of a submission), else a buffer per block (read back block by block).
 */
interface Prepared {
  readonly plan: LinearPlan;
  readonly blocks: readonly { j0: number; vb: number }[];
  readonly whole: boolean;
  readonly denominator: number;
  readonly ceParams: ArrayBuffer;
  /** Element offset of the bias (its binding starts at an aligned offset), and of the upstream factors. */
  readonly biasBase: number;
  readonly upBase: number;
  forward(rows: number, b: number, r0: number): MatmulShape;
  dHidden(rows: number, b: number): MatmulShape;
  dWeight(rows: number, b: number, r0: number): MatmulShape;
  readonly variants: readonly KernelVariant[];
}

function prepare(ctx: GpuContext, c: GpuLinearArgs, whole: boolean): Prepared {
  const { n, d, v, target, spec, probs, grad, bias } = c;
  const align = ctx.limits.offsetAlignment;
  // GPU operands and gradWeight's blocks are bound at aligned offsets below them: up to an alignment more per binding.
  const plan = planLinear(n, d, v, c.chunkRows, ctx.limits, whole ? align : 0);
  if (typeof plan === "string") throw new RangeError(`webgpu backend: linearCrossEntropy (N=${n}, D=${d}, V=${v}): ${plan}`);
  const R = plan.rows;
  const denominator = meanDenominator(target, spec, n);
  const tau = spec.temperature;
  const ceParams = crossEntropyParams({
    v,
    probs: probs !== null,
    grad,
    weighted: spec.classWeight !== null,
    labelSmoothing: spec.labelSmoothing,
    zLoss: spec.zLoss,
    softcap: spec.softcap / tau,
    scale: gradScale(spec.reduction, denominator) / tau,
    wSum: classWeightSum(spec, v),
  });
  const blocks = Array.from({ length: plan.blocks }, (_, b) => ({ j0: b * plan.vBlock, vb: Math.min(plan.vBlock, v - b * plan.vBlock) }));
  // Element offset of byte `at` of a GPU operand in its binding (host operands are uploaded from byte 0 of their own buffer).
  const base = (x: Operand | null, at: number): number => (x === null || x instanceof Float32Array ? 0 : ((x.offset + at) % align) / 4);
  const hBase = (r0: number): number => base(c.hidden, r0 * d * 4);
  const wBase = (b: number): number => base(c.weight, blocks[b]!.j0 * d * 4);
  const gwBase = (b: number): number => (whole ? ((blocks[b]!.j0 * d * 4) % align) / 4 : 0);
  const biasBase = base(bias, 0);

  // gradHidden: straight into the (R, D) chunk, accumulating over blocks; or split in slices of
  // kSplit classes into the (slices, R, D) partial buffer, then summed into the chunk in order.
  const split = plan.slices > 1;
  const kSplit = (vb: number): number => Math.ceil(vb / plan.slices / 16) * 16;
  const forward = (rows: number, b: number, r0: number): MatmulShape => {
    const { j0, vb } = blocks[b]!;
    return {
      m: rows, n: vb, k: d, alpha: 1 / tau, biasOff: bias !== null ? biasBase + j0 : null, accumulate: false,
      a: { off: hBase(r0), ld: d, transposed: false }, b: { off: wBase(b), ld: d, transposed: true }, c: { off: j0, ld: v },
    };
  };
  const dHidden = (rows: number, b: number): MatmulShape => {
    const { j0, vb } = blocks[b]!;
    return {
      m: rows, n: d, k: vb, alpha: 1, biasOff: null, accumulate: b > 0 && !split,
      a: { off: j0, ld: v, transposed: false }, b: { off: wBase(b), ld: d, transposed: false }, c: { off: 0, ld: d },
      split: split ? { slices: Math.ceil(vb / kSplit(vb)), k: kSplit(vb), cStride: R * d } : undefined,
    };
  };
  const dWeight = (rows: number, b: number, r0: number): MatmulShape => {
    const { j0, vb } = blocks[b]!;
    return {
      m: vb, n: d, k: rows, alpha: 1, biasOff: null, accumulate: true,
      a: { off: j0, ld: v, transposed: true }, b: { off: hBase(r0), ld: d, transposed: false }, c: { off: gwBase(b), ld: d },
    };
  };

  // Every variant the chunks use (vec4 access depends on D, V, the block and the operands' offsets).
  const variants = new Map<string, KernelVariant>();
  const add = (k: KernelVariant): void => void variants.set(`${k.label}|${k.defines.join(",")}`, k);
  add(rowsKernel(ctx, v));
  if (grad && (bias !== null || split)) add(COLUMN_SUM_KERNEL);
  if (grad && c.upstream !== null) add(ROW_SCALE_KERNEL);
  for (let r0 = 0; r0 < n; r0 += R) {
    const rows = Math.min(R, n - r0);
    for (let b = 0; b < blocks.length; b++) {
      add(matmulKernel(forward(rows, b, r0)));
      if (grad) {
        add(matmulKernel(dHidden(rows, b)));
        add(matmulKernel(dWeight(rows, b, r0)));
      }
    }
  }
  return { plan, blocks, whole, denominator, ceParams, biasBase, upBase: base(c.upstream, 0), forward, dHidden, dWeight, variants: [...variants.values()] };
}

/** Where a submission left its results on the GPU. */
interface Submitted {
  /** (N, 2) loss and lse per row. */
  readonly rows: GPUBuffer;
  /** Where each block of gradWeight lies (empty without a gradient). */
  readonly gradWeight: readonly At[];
  readonly gradBias: GPUBuffer | null;
  readonly scratchBytes: number;
}

/**
 * Upload the host operands, encode and submit every chunk (one command buffer each), at once:
 * nothing is awaited or read back. GPU operands are bound where they lie, at the aligned offset
 * at or below them. Each chunk's gradHidden is copied to `gradHiddenTo` at its rows' byte offset.
 * Pool roles are prefixed by `role`, so that a synchronous submission never rewrites a buffer an
 * asynchronous call still reads.
 */
function submit(ctx: GpuContext, c: GpuLinearArgs, p: Prepared, role: string, gradHiddenTo: GPUBuffer | null): Submitted {
  const { n, d, v, target, probs, spec, grad } = c;
  const { device, buffers, limits } = ctx;
  const { plan, blocks } = p;
  const R = plan.rows;
  const queue = device.queue;
  const pipe = (k: KernelVariant): GPUComputePipeline => ctx.pipelines.getSync(k.label, k.source, k.defines);
  const split = plan.slices > 1;
  const sliceCount = (b: number): number => p.dHidden(R, b).split?.slices ?? 1;

  /** A host operand's copy in the executor's buffers (uploaded now), or a binding of `bytes` bytes from byte `at` of a GPU operand. */
  const operand = (name: string, x: Operand, at: number, bytes: number): GPUBufferBinding => {
    if (!(x instanceof Float32Array)) return bindAt(limits.offsetAlignment, x.buffer as GPUBuffer, x.offset + at, bytes, 4).resource;
    const buffer = buffers.get(`${role}lin-${name}`, bytes, STORAGE | COPY_DST);
    queue.writeBuffer(buffer, 0, onArrayBuffer(x.subarray(at / 4, (at + bytes) / 4)));
    return { buffer, size: bytes };
  };
  const wRes = blocks.map(({ j0, vb }, b) => operand(`weight-${b}`, c.weight, j0 * d * 4, vb * d * 4));
  const biasRes = c.bias !== null ? operand("bias", c.bias, 0, v * 4) : { buffer: buffers.get("bias-stub", 16, STORAGE) };
  const upRes = grad && c.upstream !== null ? operand("upstream", c.upstream, 0, n * 4) : null;

  // gradWeight: one buffer whose blocks are bound at offsets, or a buffer per block.
  const gwWhole = grad && p.whole ? buffers.get(`${role}lin-grad-weight`, v * d * 4, STORAGE | COPY_SRC | COPY_DST, true) : null;
  const gradWeight: At[] = !grad ? [] : blocks.map(({ j0, vb }, b) =>
    gwWhole !== null ? { buffer: gwWhole, offset: j0 * d * 4 } : { buffer: buffers.get(`${role}lin-grad-weight-${b}`, vb * d * 4, STORAGE | COPY_SRC | COPY_DST), offset: 0 });
  const gwRes = gradWeight.map((at, b) => bindAt(limits.offsetAlignment, at.buffer, at.offset, blocks[b]!.vb * d * 4, 4).resource);

  // Uniform slots of a chunk: [ce, the bias column sum, the row factors, then per block fwd, gh, gw and gh's slice sum].
  const slot = slotBytes(device);
  const nSlots = 3 + 4 * plan.blocks;
  const at = {
    ce: 0, sum: slot, scale: 2 * slot, fwd: (b: number) => (3 + 4 * b) * slot, gh: (b: number) => (4 + 4 * b) * slot, gw: (b: number) => (5 + 4 * b) * slot,
    slices: (b: number) => (6 + 4 * b) * slot,
  };
  const partBytes = grad && split ? plan.slices * R * d * 4 : 0;
  const scratchBytes = R * v * 4 * (probs !== null ? 2 : 1) + R * d * 4 * (grad ? 2 : 1) + partBytes + n * 8 + nSlots * slot;

  const ghBuf = grad ? buffers.get(`${role}lin-grad-hidden`, R * d * 4, STORAGE | COPY_SRC | COPY_DST) : null;
  const partBuf = partBytes > 0 ? buffers.get(`${role}lin-grad-hidden-slices`, partBytes, STORAGE) : null;
  const xBuf = buffers.get(`${role}lin-logits`, R * v * 4, STORAGE);
  const probsBuf = probs !== null ? buffers.get(`${role}lin-probs`, R * v * 4, STORAGE | COPY_DST) : buffers.get("probs-stub", 16, STORAGE);
  const gbBuf = grad && c.bias !== null ? buffers.get(`${role}lin-grad-bias`, v * 4, STORAGE | COPY_SRC | COPY_DST, true) : null;
  const cwBuf = spec.classWeight !== null ? buffers.get(`${role}weight`, v * 4, STORAGE | COPY_DST) : buffers.get("weight-stub", 16, STORAGE);
  const targetBuf = buffers.get(`${role}target`, n * 4, STORAGE | COPY_DST);
  // COPY_DST too: a copy of it may want the same usage (TensorFlow.js's tensor from a GPU buffer does)
  const rowOut = buffers.get(`${role}rows`, n * 8, STORAGE | COPY_SRC | COPY_DST);
  const paramsBuf = buffers.get(`${role}lin-params`, nSlots * slot, UNIFORM | COPY_DST);

  if (spec.classWeight !== null) queue.writeBuffer(cwBuf, 0, Float32Array.from(spec.classWeight));
  if (target !== null) queue.writeBuffer(targetBuf, 0, onArrayBuffer(target));

  const group = (k: GPUComputePipeline, offset: number, size: number, ...res: GPUBufferBinding[]): GPUBindGroup =>
    device.createBindGroup({
      layout: k.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: paramsBuf, offset, size } }, ...res.map((resource, i) => ({ binding: i + 1, resource }))],
    });
  const cePipe = pipe(rowsKernel(ctx, v));
  const sumPipe = grad && (c.bias !== null || split) ? pipe(COLUMN_SUM_KERNEL) : null;
  const scalePipe = upRes !== null ? pipe(ROW_SCALE_KERNEL) : null;
  const ceGroup = group(cePipe, at.ce, PARAMS_BYTES, { buffer: xBuf }, { buffer: targetBuf }, { buffer: probsBuf }, { buffer: cwBuf }, { buffer: rowOut });
  const scaleGroup = scalePipe !== null && upRes !== null ? group(scalePipe, at.scale, ROW_SCALE_PARAMS_BYTES, { buffer: xBuf }, upRes) : null;
  const sliceGroups = sumPipe === null || partBuf === null || ghBuf === null ? [] : blocks.map((_, b) => group(sumPipe, at.slices(b), COLUMN_SUM_PARAMS_BYTES, { buffer: partBuf }, { buffer: ghBuf }));
  const sumGroup = sumPipe !== null && gbBuf !== null ? group(sumPipe, at.sum, COLUMN_SUM_PARAMS_BYTES, { buffer: xBuf }, { buffer: gbBuf }) : null;

  const init = device.createCommandEncoder();
  for (const buffer of new Set(gradWeight.map((g) => g.buffer))) init.clearBuffer(buffer);
  if (gbBuf !== null) init.clearBuffer(gbBuf);
  queue.submit([init.finish()]);

  const params = new ArrayBuffer(nSlots * slot);
  for (let r0 = 0; r0 < n; r0 += R) {
    const rows = Math.min(R, n - r0);
    new Uint8Array(params, at.ce, PARAMS_BYTES).set(new Uint8Array(p.ceParams));
    new Uint32Array(params, at.ce, 2)[1] = r0; // rowBase: targets and per-row outputs are global
    for (let b = 0; b < blocks.length; b++) {
      writeMatmulParams(params, at.fwd(b), p.forward(rows, b, r0));
      writeMatmulParams(params, at.gh(b), p.dHidden(rows, b));
      writeMatmulParams(params, at.gw(b), p.dWeight(rows, b, r0));
      writeColumnSumParams(params, at.slices(b), sliceCount(b), rows * d, R * d);
    }
    writeColumnSumParams(params, at.sum, rows, v, v);
    writeRowScaleParams(params, at.scale, rows, v, p.upBase + r0);
    queue.writeBuffer(paramsBuf, 0, params);
    const hRes = operand("hidden", c.hidden, r0 * d * 4, rows * d * 4); // host: this chunk uploaded
    if (probs !== null) {
      const pr = probs.subarray(r0 * v, (r0 + rows) * v);
      queue.writeBuffer(probsBuf, 0, pr instanceof Float32Array ? onArrayBuffer(pr) : Float32Array.from(pr));
    }

    const enc = device.createCommandEncoder();
    if (split && ghBuf !== null) enc.clearBuffer(ghBuf); // the slice sums add into it
    const pass = enc.beginComputePass();
    const run = (k: GPUComputePipeline, g: GPUBindGroup, x: number, y = 1, z = 1): void => {
      pass.setPipeline(k);
      pass.setBindGroup(0, g);
      pass.dispatchWorkgroups(x, y, z);
    };
    const matmul = (s: MatmulShape, offset: number, ...res: GPUBufferBinding[]): void => {
      const k = pipe(matmulKernel(s));
      run(k, group(k, offset, MATMUL_PARAMS_BYTES, ...res, biasRes), ...matmulGrid(s));
    };
    for (let b = 0; b < blocks.length; b++) matmul(p.forward(rows, b, r0), at.fwd(b), hRes, wRes[b]!, { buffer: xBuf });
    run(cePipe, ceGroup, 1, rows); // (slices, rows): whole rows
    if (ghBuf !== null) {
      if (scalePipe !== null && scaleGroup !== null) run(scalePipe, scaleGroup, Math.ceil(v / ROW_SCALE_WG), rows);
      for (let b = 0; b < blocks.length; b++) {
        matmul(p.dHidden(rows, b), at.gh(b), { buffer: xBuf }, wRes[b]!, { buffer: partBuf ?? ghBuf });
        if (sumPipe !== null && split) run(sumPipe, sliceGroups[b]!, Math.ceil((rows * d) / COLUMN_SUM_WG));
      }
      for (let b = 0; b < blocks.length; b++) matmul(p.dWeight(rows, b, r0), at.gw(b), { buffer: xBuf }, hRes, gwRes[b]!);
      if (sumPipe !== null && sumGroup !== null) run(sumPipe, sumGroup, Math.ceil(v / COLUMN_SUM_WG));
    }
    pass.end();
    if (ghBuf !== null && gradHiddenTo !== null) enc.copyBufferToBuffer(ghBuf, 0, gradHiddenTo, r0 * d * 4, rows * d * 4);
    queue.submit([enc.finish()]);
  }
  return { rows: rowOut, gradWeight, gradBias: gbBuf, scratchBytes };
}

/** Typed arrays in, typed arrays out: the operands uploaded, the submission, and its results read back. */
export async function linearCrossEntropyGpu(ctx: GpuContext, args: LinearCrossEntropyArgs): Promise<LinearCrossEntropyResult> {
  const { n, d, v, spec } = args;
  const gradHidden = args.gradHidden === null ? null : float32("gradHidden", args.gradHidden);
  const gradWeight = args.gradWeight === null ? null : float32("gradWeight", args.gradWeight);
  const gradBias = args.gradBias === null ? null : float32("gradBias", args.gradBias);
  const c: GpuLinearArgs = {
    ...args,
    hidden: float32("hidden", args.hidden),
    weight: float32("weight", args.weight),
    bias: args.bias === null ? null : float32("bias", args.bias),
    upstream: null,
    grad: gradHidden !== null && gradWeight !== null,
  };
  const p = prepare(ctx, c, false);
  await ctx.pipelines.warm(p.variants); // compiled asynchronously: the submission finds them ready
  const { device, buffers } = ctx;
  // (at most one binding too, so that the tests' small limits run several rounds)
  const stageBytes = Math.min(STAGE_BYTES, ctx.limits.maxBindingBytes, v * d * 4);

  pushErrorScopes(device);
  let failure: unknown = null;
  let out: Submitted | null = null;
  const rowRead = buffers.get("lin-rows-read", n * 8, MAP_READ | COPY_DST);
  const ghRead = c.grad ? buffers.get("lin-grad-hidden-read", n * d * 4, MAP_READ | COPY_DST) : null;
  const gbRead = c.grad && c.bias !== null ? buffers.get("lin-grad-bias-read", v * 4, MAP_READ | COPY_DST) : null;
  try {
    out = submit(ctx, c, p, "", ghRead);
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(out.rows, 0, rowRead, 0, n * 8);
    if (out.gradBias !== null && gbRead !== null) enc.copyBufferToBuffer(out.gradBias, 0, gbRead, 0, v * 4);
    device.queue.submit([enc.finish()]);
  } catch (e) {
    failure = e;
  }
  await popErrorScopes(device, `linearCrossEntropy (N=${n}, D=${d}, V=${v})`, failure);
  const done = out!; // set: a failure was rethrown above

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
    reads.push(readBlocks(device, stages, stageBytes / 4, done.gradWeight, p.plan.vBlock * d, gradWeight, read));
  }
  await Promise.all(reads);
  const scratchBytes = done.scratchBytes + (c.grad ? 2 * stageBytes : 0);
  return { loss: reduceLoss(rowLoss, spec, p.denominator), rowLoss, lse, scratchBytes };
}

/**
 * Operands on the GPU (or host arrays, uploaded), submitted at once, nothing read back: the
 * per-row values and the gradients stay in the executor's buffers, rewritten by the next
 * submission (`GpuLinearSubmission`). Kernel variants not compiled yet are compiled
 * synchronously; GPU errors reach the device's uncaptured-error handler.
 */
export function linearCrossEntropyGpuSync(ctx: GpuContext, c: GpuLinearArgs): GpuLinearSubmission {
  const { n, d, v } = c;
  const max = ctx.device.limits.maxBufferSize;
  if (c.grad && Math.max(n, v) * d * 4 > max) {
    throw new RangeError(`webgpu backend: linearCrossEntropy (N=${n}, D=${d}, V=${v}): gradHidden or gradWeight (${Math.max(n, v) * d * 4} bytes) exceeds the device's largest buffer (${max} bytes)`);
  }
  const p = prepare(ctx, c, true);
  const ghOut = c.grad ? ctx.buffers.get("sync-lin-grad-hidden-out", n * d * 4, STORAGE | COPY_SRC | COPY_DST, true) : null;
  const out = submit(ctx, c, p, "sync-", ghOut);
  return { rows: out.rows, denominator: p.denominator, gradHidden: ghOut, gradWeight: out.gradWeight[0]?.buffer ?? null, gradBias: out.gradBias };
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
  blocks: readonly At[],
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
      enc.copyBufferToBuffer(blocks[b]!.buffer, blocks[b]!.offset + (from - b * blockLen) * 4, stage, (from - s) * 4, (to - from) * 4);
    }
    device.queue.submit([enc.finish()]);
    await prev; // round k-1 is copied out (and its stage, the other one, unmapped)
    prev = read(stage, (e - s) * 4, (x) => out.set(x, s));
  }
  await prev;
}
