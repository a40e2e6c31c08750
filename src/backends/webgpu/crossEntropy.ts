/// <reference types="@webgpu/types" />
/**
 * Host of the fused cross-entropy kernel (crossEntropy.wgsl), one workgroup per row, a block of
 * rows at a time (blocks.ts), for logits of two origins:
 * - host arrays (float32, or 16-bit floats packed two to a word): each block is uploaded, run,
 *   and its gradient read back (double-buffered, so the GPU works on block k+1 while block k is
 *   copied out);
 * - GPU buffers (a caller's, at a byte offset): each block is bound where it lies, at the
 *   largest offset aligned to minStorageBufferOffsetAlignment at or below it, the rest of the
 *   way being a uniform (xBase), so nothing is copied; the gradient goes to a new buffer or over
 *   the logits, and stays on the GPU.
 * Only the per-row loss and lse come back. The batch reduction runs on the host, in float64 and
 * row order, as on every other backend.
 *
 * Few rows of a large vocabulary (`vocabSlices`) run in the split-vocabulary mode instead: S
 * workgroups per row, each over a slice of V; a statistics dispatch, then a gradient dispatch
 * whose workgroups each merge their row's slice records in slice order; the host merges the
 * records into the loss and lse (`mergeRecords`), in float64 and slice order.
 */
import { classWeightSum, gradScale, meanDenominator, reduceLoss } from "../common.js";
import type { CrossEntropyArgs, CrossEntropyResult, FloatArray, GpuCrossEntropyArgs, GpuCrossEntropyResult, GpuDtype, GpuInput, HostHalf, LossSpec } from "../types.js";
import { planRowBlocks, type BlockLimits } from "./blocks.js";
import type { BufferPool } from "./buffers.js";
import { popErrorScopes, pushErrorScopes } from "./gpu.js";
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

/** Bytes of the kernel's uniform block. */
export const PARAMS_BYTES = 64;
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

/** The same bytes on an ArrayBuffer, as writeBuffer wants (a copy only when on a SharedArrayBuffer). */
export function onArrayBuffer(x: Float32Array | Int32Array | Uint16Array): Uint8Array<ArrayBuffer> {
  const buf = x.buffer;
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf, x.byteOffset, x.byteLength);
  return Uint8Array.from(new Uint8Array(buf, x.byteOffset, x.byteLength));
}

/** Where the logits are, and where their gradient goes. */
type Source =
  | { readonly kind: "host"; readonly data: Float32Array | Uint16Array; readonly gradOut: Float32Array | Uint16Array | null }
  | { readonly kind: "gpu"; readonly input: GpuInput; readonly grad: "none" | "new" | "inplace" };

interface Call {
  readonly n: number;
  readonly v: number;
  readonly target: Int32Array | null;
  readonly probs: FloatArray | GpuInput | null;
  readonly spec: LossSpec;
  readonly dtype: GpuDtype;
  readonly src: Source;
}

const isGpuInput = (p: FloatArray | GpuInput | HostHalf | null): p is GpuInput => p !== null && "buffer" in p && "dtype" in p && "offset" in p;

/**
 * The kernel's pipeline for float32 rows of V classes in a buffer of their own (the linear
 * head's chunks): one workgroup per row, the gradient written over the logits.
 */
export function crossEntropyPipeline(ctx: Pick<GpuContext, "pipelines" | "subgroups">, v: number): Promise<GPUComputePipeline> {
  return ctx.pipelines.get("crossEntropy", SOURCE, [v % 4 === 0 ? "VEC4" : "SCALAR", "F32", "GRAD_INPLACE", ...(ctx.subgroups ? ["SUBGROUPS"] : [])]);
}

/** What the kernel's uniforms hold (Params in crossEntropy.wgsl) for `crossEntropyPipeline`'s calls, but rowBase (word 1: set per block). */
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

/** The kernel's uniform block: whole rows (one slice, phase 0), rowBase 0, bindings from their start. */
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
  pu[10] = 1; // slices
  return params;
}

/** Float32 typed-array logits (the engine's ordinary path). */
export async function crossEntropyGpu(ctx: GpuContext, args: CrossEntropyArgs): Promise<CrossEntropyResult> {
  const { logits, gradOut } = args;
  if (!(logits instanceof Float32Array)) {
    throw new TypeError(`webgpu backend: crossEntropy logits are a ${logits.constructor.name}; expected a Float32Array (the GPU kernel reads float32)`);
  }
  if (gradOut !== null && !(gradOut instanceof Float32Array)) {
    throw new TypeError(`webgpu backend: crossEntropy gradient output is a ${gradOut.constructor.name}; expected a Float32Array`);
  }
  const { result } = await run(ctx, { ...args, dtype: "float32", src: { kind: "host", data: logits, gradOut } });
  return result;
}

/** Logits on the GPU, or 16-bit host logits. */
export async function crossEntropyGpuInput(ctx: GpuContext, args: GpuCrossEntropyArgs): Promise<GpuCrossEntropyResult> {
  const { logits } = args;
  const src: Source = isGpuInput(logits) ? { kind: "gpu", input: logits, grad: args.grad } : { kind: "host", data: logits.host, gradOut: args.gradOut };
  const { result, grad } = await run(ctx, { ...args, dtype: logits.dtype, src });
  return { ...result, grad };
}

/** Round `bytes` up to a multiple of 4 (storage bindings and copies work in 32-bit words). */
const words = (bytes: number): number => Math.ceil(bytes / 4) * 4;

async function run(ctx: GpuContext, c: Call): Promise<{ result: CrossEntropyResult; grad: GPUBuffer | null }> {
  const { n, v, target, probs, src, dtype } = c;
  // The loss options, read in one place.
  const { reduction, labelSmoothing, zLoss, softcap, classWeight } = c.spec;
  const { device, buffers, pipelines, limits } = ctx;
  const d = meanDenominator(target, c.spec, n);
  const scale = gradScale(reduction, d);
  const wSum = classWeightSum(c.spec, v);

  const eb = dtype === "float32" ? 4 : 2; // bytes per element
  const gpuX = src.kind === "gpu" ? src.input : null;
  const gpuP = isGpuInput(probs) ? probs : null;
  const wantGrad = src.kind === "gpu" ? src.grad !== "none" : src.gradOut !== null;
  const separate = src.kind === "gpu" && src.grad === "new";
  // Lanes: vec4 when V and every row's first element allow it, else scalar (float32) or pairs (16-bit, V even).
  const xOffset = gpuX?.offset ?? 0;
  const lanes = v % 4 === 0 && xOffset % (4 * eb) === 0 ? 4 : eb === 4 ? 1 : 2;
  const unit = lanes * eb; // bytes of one S (storage unit) of the logits
  // GPU probabilities bound where they lie when their offset suits the lanes, else copied block by block.
  const copyProbs = gpuP !== null && gpuP.offset % (lanes * 4) !== 0;
  if (copyProbs && (gpuP.buffer.usage & COPY_SRC) === 0) {
    throw new TypeError(
      `webgpu backend: target.probs is at byte offset ${gpuP.offset}, not a multiple of ${lanes * 4}, so it is copied to an aligned block; its buffer needs GPUBufferUsage.COPY_SRC`,
    );
  }
  const defines = [
    lanes === 4 ? "VEC4" : lanes === 2 ? "VEC2" : "SCALAR",
    eb === 4 ? "F32" : lanes === 4 ? "PACKED4" : "PACKED2",
    ...(dtype === "float16" ? ["F16"] : dtype === "bfloat16" ? ["BF16"] : []),
    separate ? "GRAD_SEPARATE" : "GRAD_INPLACE",
  ];
  if (ctx.subgroups) defines.push("SUBGROUPS");
  const pipeline = await pipelines.get("crossEntropy", SOURCE, defines);
  const slices = ctx.forceSlices ?? vocabSlices(n, v);
  const split = slices > 1;
  // The split mode's second dispatch: the gradient, or the loss terms summed over the row.
  const phase2 = split && (wantGrad || probs !== null || labelSmoothing > 0);
  const outBytes = split ? n * slices * REC * 4 : n * 8;

  const rowBytes = v * eb;
  // Blocks bound at an aligned offset below their start need up to one alignment more.
  const slack = gpuX !== null || gpuP !== null ? limits.offsetAlignment : 0;
  const plan = planRowBlocks(n, rowBytes, { ...limits, maxBindingBytes: limits.maxBindingBytes - slack }, false);
  const blockBytes = plan.rowsPerBlock * rowBytes;

  pushErrorScopes(device);
  let failure: unknown = null;
  let gradBuf: GPUBuffer | null = null;
  const rowRead = buffers.get("rows-read", outBytes, MAP_READ | COPY_DST);
  try {
    const hostX = src.kind === "host" ? buffers.get("logits", words(blockBytes), STORAGE | COPY_DST | COPY_SRC) : null;
    const hostP = probs !== null && (gpuP === null || copyProbs) ? buffers.get("probs", blockBytes / eb * 4, STORAGE | COPY_DST) : null;
    const probsStub = probs === null ? buffers.get("probs-stub", 16, STORAGE) : null;
    const weightBuf = classWeight !== null ? buffers.get("weight", v * 4, STORAGE | COPY_DST) : buffers.get("weight-stub", 16, STORAGE);
    const targetBuf = buffers.get("target", n * 4, STORAGE | COPY_DST);
    const rowOutBuf = buffers.get("rows", outBytes, STORAGE | COPY_SRC);
    const paramsBuf = buffers.get("params", PARAMS_BYTES, UNIFORM | COPY_DST);
    const params2Buf = phase2 ? buffers.get("params-2", PARAMS_BYTES, UNIFORM | COPY_DST) : null;
    const gradRead =
      src.kind === "host" && src.gradOut !== null
        ? [buffers.get("grad-read-0", words(blockBytes), MAP_READ | COPY_DST), buffers.get("grad-read-1", words(blockBytes), MAP_READ | COPY_DST)]
        : [];
    if (separate) {
      // The caller's: not pooled. COPY_SRC to read it back, COPY_DST to reuse it.
      gradBuf = device.createBuffer({ label: "xent gradient", size: Math.max(4, words(n * rowBytes)), usage: STORAGE | COPY_SRC | COPY_DST });
    }

    const queue = device.queue;
    if (classWeight !== null) queue.writeBuffer(weightBuf, 0, Float32Array.from(classWeight));
    if (target !== null) queue.writeBuffer(targetBuf, 0, onArrayBuffer(target));

    const params = new ArrayBuffer(PARAMS_BYTES);
    const pu = new Uint32Array(params);
    const pf = new Float32Array(params);
    pu[0] = v;
    pu[2] = (probs !== null ? FLAG_PROBS : 0) | (wantGrad ? FLAG_GRAD : 0) | (classWeight !== null ? FLAG_WEIGHTED : 0);
    pf[4] = labelSmoothing;
    pf[5] = labelSmoothing / v;
    pf[6] = zLoss;
    pf[7] = softcap;
    pf[8] = scale;
    pf[9] = wSum;
    pu[10] = slices;
    pu[11] = split ? 1 : 0; // phase: fused, or the split mode's statistics
    const params2 = new ArrayBuffer(PARAMS_BYTES);
    const pu2 = new Uint32Array(params2);
    const timer = ctx.timer;
    timer?.begin(plan.blocks);

    /** A binding of `bytes` bytes from byte `at` of `buffer`, at the aligned offset below it, and `at`'s distance from there in units of `u` bytes. */
    const bindAt = (buffer: GPUBuffer, at: number, bytes: number, u: number): { resource: GPUBufferBinding; base: number } => {
      const start = at - (at % limits.offsetAlignment);
      return { resource: { buffer, offset: start, size: words(at + bytes) - start }, base: (at - start) / u };
    };

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
      const enc = device.createCommandEncoder();
      // logits: uploaded into the pool's block, or bound where they lie
      let xBind: { resource: GPUBufferBinding; base: number };
      if (src.kind === "host") {
        queue.writeBuffer(hostX!, 0, onArrayBuffer(src.data.subarray(e0, e0 + count)));
        xBind = { resource: { buffer: hostX!, size: words(count * eb) }, base: 0 };
      } else {
        xBind = bindAt(src.input.buffer as GPUBuffer, xOffset + e0 * eb, count * eb, unit);
      }
      let pBind: { resource: GPUBufferBinding; base: number };
      if (probs === null) pBind = { resource: { buffer: probsStub! }, base: 0 };
      else if (gpuP === null) {
        const block = (probs as FloatArray).subarray(e0, e0 + count);
        queue.writeBuffer(hostP!, 0, onArrayBuffer(block instanceof Float32Array ? block : Float32Array.from(block)));
        pBind = { resource: { buffer: hostP!, size: count * 4 }, base: 0 };
      } else if (copyProbs) {
        enc.copyBufferToBuffer(gpuP.buffer as GPUBuffer, gpuP.offset + e0 * 4, hostP!, 0, count * 4);
        pBind = { resource: { buffer: hostP!, size: count * 4 }, base: 0 };
      } else {
        pBind = bindAt(gpuP.buffer as GPUBuffer, gpuP.offset + e0 * 4, count * 4, lanes * 4);
      }
      const entries: GPUBindGroupEntry[] = [
        { binding: 0, resource: { buffer: paramsBuf, size: PARAMS_BYTES } },
        { binding: 1, resource: xBind.resource },
        { binding: 2, resource: { buffer: targetBuf } },
        { binding: 3, resource: pBind.resource },
        { binding: 4, resource: { buffer: weightBuf } },
        { binding: 5, resource: { buffer: rowOutBuf, size: outBytes } },
      ];
      pu[12] = xBind.base;
      pu[13] = pBind.base;
      if (gradBuf !== null) {
        const gBind = bindAt(gradBuf, e0 * eb, count * eb, unit);
        entries.push({ binding: 6, resource: gBind.resource });
        pu[14] = gBind.base;
      }
      pu[1] = r0;
      queue.writeBuffer(paramsBuf, 0, params);
      const layout = pipeline.getBindGroupLayout(0);
      const bindGroup = device.createBindGroup({ layout, entries });
      const pass = enc.beginComputePass(timer !== null ? { timestampWrites: timer.next() } : {});
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(slices, rows);
      if (params2Buf !== null) {
        // the split mode's gradient dispatch: the same bindings, phase 2; it reads the statistics dispatch's records
        new Uint8Array(params2).set(new Uint8Array(params));
        pu2[11] = 2;
        queue.writeBuffer(params2Buf, 0, params2);
        const entries2 = entries.map((e) => (e.binding === 0 ? { binding: 0, resource: { buffer: params2Buf, size: PARAMS_BYTES } } : e));
        pass.setBindGroup(0, device.createBindGroup({ layout, entries: entries2 }));
        pass.dispatchWorkgroups(slices, rows);
      }
      pass.end();
      const read = gradRead[slot];
      const gradOut = src.kind === "host" ? src.gradOut : null;
      const bytes = words(count * eb);
      if (gradOut !== null && read !== undefined) enc.copyBufferToBuffer(hostX!, 0, read, 0, bytes);
      queue.submit([enc.finish()]);
      if (gradOut !== null && read !== undefined) {
        pending[slot] = read.mapAsync(MAP_READ, 0, bytes).then(() => {
          const got = read.getMappedRange(0, bytes);
          if (gradOut instanceof Float32Array) gradOut.set(new Float32Array(got, 0, count), e0);
          else gradOut.set(new Uint16Array(got, 0, count), e0);
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
  try {
    await popErrorScopes(device, `crossEntropy (N=${n}, V=${v})`, failure);
  } catch (e) {
    gradBuf?.destroy();
    throw e;
  }

  await ctx.timer?.read();
  await rowRead.mapAsync(MAP_READ, 0, outBytes);
  const rows32 = new Float32Array(rowRead.getMappedRange(0, outBytes).slice(0));
  rowRead.unmap();
  const { rowLoss, lse } = split ? mergeRecords(c, rows32, slices) : unpackRows(rows32, n);
  const result = { loss: reduceLoss(rowLoss, c.spec, d), rowLoss, lse };
  const grad = src.kind === "gpu" && src.grad === "inplace" ? (src.input.buffer as GPUBuffer) : gradBuf;
  return { result, grad };
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
function mergeRecords(args: Pick<CrossEntropyArgs, "n" | "v" | "target" | "spec">, rec: Float32Array, slices: number): { rowLoss: Float64Array; lse: Float64Array } {
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
