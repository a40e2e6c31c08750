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
import type { CrossEntropyArgs, CrossEntropyResult, FloatArray, GpuCrossEntropyArgs, GpuCrossEntropyResult, GpuDtype, GpuInput, GpuSubmission, HostHalf, LossSpec } from "../types.js";
import { bindAt as bindAtAligned, planRowBlocks, type BlockLimits, type BlockPlan, type BoundAt } from "./blocks.js";
import { USAGE, type BufferPool } from "./buffers.js";
import { popErrorScopes, pushErrorScopes } from "./gpu.js";
import type { KernelVariant, PipelineCache } from "./shader.js";
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

const { STORAGE, COPY_DST, COPY_SRC, MAP_READ, UNIFORM } = USAGE;

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
export function rowsKernel(ctx: Pick<GpuContext, "subgroups">, v: number): KernelVariant {
  return { label: "crossEntropy", source: SOURCE, defines: [v % 4 === 0 ? "VEC4" : "SCALAR", "F32", "GRAD_INPLACE", ...(ctx.subgroups ? ["SUBGROUPS"] : [])] };
}

/** The loss options in the kernel's uniforms (Params in crossEntropy.wgsl); rowBase, the slices, the phase and the binding bases are set by the caller. */
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

/** The kernel's uniform block for these options: whole rows (one slice, phase 0), rowBase 0, bindings from their start. */
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
  if (!isGpuInput(logits) && args.v % 2 === 1 && args.gradOut !== null) return oddHostHalves(ctx, args, logits);
  const src: Source = isGpuInput(logits) ? { kind: "gpu", input: logits, grad: args.grad } : { kind: "host", data: logits.host, gradOut: args.gradOut };
  const { result, grad } = await run(ctx, { ...args, dtype: logits.dtype, src });
  return { ...result, grad };
}

/**
 * 16-bit host logits of odd V with a gradient: uploaded whole into a GPU buffer, run as GPU logits
 * (the gradient set half by half, GRAD_ATOMIC, into a new buffer), and the gradient read back.
 */
async function oddHostHalves(ctx: GpuContext, args: GpuCrossEntropyArgs, logits: HostHalf): Promise<GpuCrossEntropyResult> {
  const { device } = ctx;
  const count = logits.host.length;
  const bytes = Math.max(4, words(count * 2));
  const buf = device.createBuffer({ label: "xent 16-bit logits", size: bytes, usage: STORAGE | COPY_DST });
  try {
    device.queue.writeBuffer(buf, 0, onArrayBuffer(padToWord(logits.host)));
    const input: GpuInput = { buffer: buf, offset: 0, length: count, dtype: logits.dtype };
    const { result, grad } = await run(ctx, { ...args, dtype: logits.dtype, src: { kind: "gpu", input, grad: "new" } });
    if (grad !== null) {
      const read = ctx.buffers.get("grad-read-0", bytes, MAP_READ | COPY_DST);
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(grad, 0, read, 0, bytes);
      device.queue.submit([enc.finish()]);
      grad.destroy();
      await read.mapAsync(MAP_READ, 0, bytes);
      args.gradOut?.set(new Uint16Array(read.getMappedRange(0, bytes), 0, count));
      read.unmap();
    }
    return { ...result, grad: null };
  } finally {
    buf.destroy();
  }
}

/** `x` itself when it fills whole 32-bit words, else a copy with one more (zero) element: writeBuffer copies words. */
function padToWord(x: Float32Array | Uint16Array): Float32Array | Uint16Array {
  if (x.byteLength % 4 === 0) return x;
  const out = new Uint16Array(x.length + 1);
  out.set(x);
  return out;
}

/** Round `bytes` up to a multiple of 4 (storage bindings and copies work in 32-bit words). */
const words = (bytes: number): number => Math.ceil(bytes / 4) * 4;

/** A call's layout: lanes, kernel variant, row blocks (nothing on the GPU yet). */
interface Layout {
  readonly eb: number;
  readonly lanes: number;
  readonly unit: number;
  /** 16-bit of odd V: halves addressed one by one, the gradient set by atomics (GRAD_ATOMIC). */
  readonly halves: boolean;
  readonly copyProbs: boolean;
  readonly defines: string[];
  readonly plan: BlockPlan;
  readonly blockBytes: number;
  /** Vocabulary slices per row (1: whole rows, one workgroup each). */
  readonly slices: number;
  /** The split mode's second dispatch: the gradient, or the loss terms summed over the row. */
  readonly phase2: boolean;
  /** Bytes of the per-row output: (N, 2) loss and lse, or (N, slices, REC) slice records. */
  readonly outBytes: number;
}

/** The call's layout; `slices` forces the slices per row (the synchronous path, whose caller reduces (N, 2) rows itself, takes 1). */
function layout(ctx: GpuContext, c: Call, slices = ctx.forceSlices ?? vocabSlices(c.n, c.v)): Layout {
  const { v, n, probs, src, dtype } = c;
  const eb = dtype === "float32" ? 4 : 2; // bytes per element
  const gpuX = src.kind === "gpu" ? src.input : null;
  const gpuP = isGpuInput(probs) ? probs : null;
  // Lanes: vec4 when V and every row's first element allow it, else scalar (float32, or 16-bit of odd V) or pairs (16-bit, V even).
  const lanes = v % 4 === 0 && (gpuX?.offset ?? 0) % (4 * eb) === 0 ? 4 : eb === 4 || v % 2 === 1 ? 1 : 2;
  const halves = eb === 2 && lanes === 1;
  const wantGrad = src.kind === "gpu" ? src.grad !== "none" : src.gradOut !== null;
  // GPU probabilities bound where they lie when their offset suits the lanes, else copied block by block.
  const copyProbs = gpuP !== null && gpuP.offset % (lanes * 4) !== 0;
  if (copyProbs && (gpuP.buffer.usage & COPY_SRC) === 0) {
    throw new TypeError(
      `webgpu backend: target.probs is at byte offset ${gpuP.offset}, not a multiple of ${lanes * 4}, so it is copied to an aligned block; its buffer needs GPUBufferUsage.COPY_SRC`,
    );
  }
  const defines = [
    lanes === 4 ? "VEC4" : lanes === 2 ? "VEC2" : "SCALAR",
    eb === 4 ? "F32" : lanes === 4 ? "PACKED4" : lanes === 2 ? "PACKED2" : "PACKED1",
    ...(dtype === "float16" ? ["F16"] : dtype === "bfloat16" ? ["BF16"] : []),
    halves && wantGrad ? "GRAD_ATOMIC" : src.kind === "gpu" && src.grad === "new" ? "GRAD_SEPARATE" : "GRAD_INPLACE",
  ];
  if (ctx.subgroups) defines.push("SUBGROUPS");
  if (halves && src.kind === "host" && wantGrad) throw new Error("webgpu backend: 16-bit host logits of odd V go through a GPU copy (crossEntropyGpuInput)");
  // Blocks bound at an aligned offset below their start need up to one alignment more.
  const slack = gpuX !== null || gpuP !== null ? ctx.limits.offsetAlignment : 0;
  const plan = planRowBlocks(n, v * eb, { ...ctx.limits, maxBindingBytes: ctx.limits.maxBindingBytes - slack }, false);
  const split = slices > 1;
  const phase2 = split && (wantGrad || probs !== null || c.spec.labelSmoothing > 0);
  const outBytes = split ? n * slices * REC * 4 : n * 8;
  return { eb, lanes, unit: lanes * eb, halves, copyProbs, defines, plan, blockBytes: plan.rowsPerBlock * v * eb, slices, phase2, outBytes };
}

/** A call's buffers on the GPU, and the encoding of one block of rows (uploads included). */
interface Bound {
  readonly rowOut: GPUBuffer;
  /** The new gradient buffer (GRAD_SEPARATE), or null. */
  readonly grad: GPUBuffer | null;
  /** The pool's logits block (host logits: the gradient is read back from it), or null. */
  readonly hostX: GPUBuffer | null;
  /** Encode block b (its uploads are queued first); the caller submits. */
  encode(b: number, pipeline: GPUComputePipeline): GPUCommandEncoder;
  /** Destroy the call's scratch buffer, if any (after the last block is submitted). */
  release(): void;
}

/**
 * Create or reuse the call's buffers (pool roles prefixed by `role`, so that the synchronous path
 * never shares a buffer with an asynchronous call in flight) and upload the small inputs.
 */
function bind(ctx: GpuContext, c: Call, l: Layout, role: string, d: number): Bound {
  const { n, v, target, probs, src } = c;
  const { labelSmoothing, zLoss, softcap, classWeight, reduction } = c.spec;
  const { device, buffers, limits } = ctx;
  const { eb, unit, lanes, copyProbs, plan, blockBytes, halves, slices, phase2, outBytes } = l;
  const gpuP = isGpuInput(probs) ? probs : null;
  const wantGrad = src.kind === "gpu" ? src.grad !== "none" : src.gradOut !== null;
  const hostX = src.kind === "host" ? buffers.get(`${role}logits`, words(blockBytes), STORAGE | COPY_DST | COPY_SRC) : null;
  const hostP = probs !== null && (gpuP === null || copyProbs) ? buffers.get(`${role}probs`, (blockBytes / eb) * 4, STORAGE | COPY_DST) : null;
  const probsStub = buffers.get("probs-stub", 16, STORAGE);
  const weightBuf = classWeight !== null ? buffers.get(`${role}weight`, v * 4, STORAGE | COPY_DST) : buffers.get("weight-stub", 16, STORAGE);
  const targetBuf = buffers.get(`${role}target`, n * 4, STORAGE | COPY_DST);
  // COPY_DST too: a copy of it may want the same usage (TensorFlow.js's tensor from a GPU buffer does)
  const rowOut = buffers.get(`${role}rows`, outBytes, STORAGE | COPY_SRC | COPY_DST);
  const paramsBuf = buffers.get(`${role}params`, PARAMS_BYTES, UNIFORM | COPY_DST);
  const params2Buf = phase2 ? buffers.get(`${role}params-2`, PARAMS_BYTES, UNIFORM | COPY_DST) : null;
  // The caller's: not pooled. COPY_SRC to read it back, COPY_DST to reuse it.
  const grad = src.kind === "gpu" && src.grad === "new" ? device.createBuffer({ label: "xent gradient", size: Math.max(4, words(n * v * eb)), usage: STORAGE | COPY_SRC | COPY_DST }) : null;
  // In place with odd V (GRAD_ATOMIC): the gradient goes to a copy of the logits' words, copied back
  // after the last block, so that the halves around the logits (another's data) stay as they were.
  let scratch: { buffer: GPUBuffer; caller: GPUBuffer; at: number; bytes: number } | null = null;
  if (halves && src.kind === "gpu" && src.grad === "inplace") {
    const caller = src.input.buffer as GPUBuffer;
    if ((caller.usage & (COPY_SRC | COPY_DST)) !== (COPY_SRC | COPY_DST)) {
      throw new TypeError("webgpu backend: in place over 16-bit logits of odd V, the logits' buffer needs GPUBufferUsage.COPY_SRC and COPY_DST (the gradient is assembled in a copy of its words)");
    }
    const at = src.input.offset;
    const bytes = words(at + n * v * eb) - at;
    scratch = { buffer: device.createBuffer({ label: "xent gradient scratch", size: bytes, usage: STORAGE | COPY_SRC | COPY_DST }), caller, at, bytes };
  }
  const gradTo = grad ?? scratch?.buffer ?? null;

  const queue = device.queue;
  if (classWeight !== null) queue.writeBuffer(weightBuf, 0, Float32Array.from(classWeight));
  if (target !== null) queue.writeBuffer(targetBuf, 0, onArrayBuffer(target));

  const params = crossEntropyParams({
    v, probs: probs !== null, grad: wantGrad, weighted: classWeight !== null, labelSmoothing, zLoss, softcap, scale: gradScale(reduction, d), wSum: classWeightSum(c.spec, v),
  });
  const pu = new Uint32Array(params);
  pu[10] = slices;
  pu[11] = slices > 1 ? 1 : 0; // phase: fused, or the split mode's statistics
  const params2 = new ArrayBuffer(PARAMS_BYTES);
  const pu2 = new Uint32Array(params2);
  // the async path's passes are timed (benchmarks); the synchronous one's are not
  const timer = role === "" ? ctx.timer : null;

  const bindAt = (buffer: GPUBuffer, at: number, bytes: number, u: number): BoundAt => bindAtAligned(limits.offsetAlignment, buffer, at, bytes, u);

  const encode = (b: number, pipeline: GPUComputePipeline): GPUCommandEncoder => {
    const r0 = b * plan.rowsPerBlock;
    const rows = Math.min(plan.rowsPerBlock, n - r0);
    const e0 = r0 * v;
    const count = rows * v;
    const enc = device.createCommandEncoder();
    if (scratch !== null && b === 0) enc.copyBufferToBuffer(scratch.caller, scratch.at, scratch.buffer, 0, scratch.bytes);
    // logits: uploaded into the pool's block, or bound where they lie
    let xBind: BoundAt;
    if (src.kind === "host") {
      queue.writeBuffer(hostX!, 0, onArrayBuffer(padToWord(src.data.subarray(e0, e0 + count))));
      xBind = { resource: { buffer: hostX!, size: words(count * eb) }, base: 0 };
    } else {
      xBind = bindAt(src.input.buffer as GPUBuffer, src.input.offset + e0 * eb, count * eb, unit);
    }
    let pBind: BoundAt;
    if (probs === null) pBind = { resource: { buffer: probsStub }, base: 0 };
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
      { binding: 5, resource: { buffer: rowOut, size: outBytes } },
    ];
    pu[1] = r0;
    pu[12] = xBind.base;
    pu[13] = pBind.base;
    if (gradTo !== null) {
      const gBind = bindAt(gradTo, e0 * eb, count * eb, unit);
      entries.push({ binding: 6, resource: gBind.resource });
      pu[14] = gBind.base;
    }
    queue.writeBuffer(paramsBuf, 0, params);
    const groupLayout = pipeline.getBindGroupLayout(0);
    const pass = enc.beginComputePass(timer !== null ? { timestampWrites: timer.next() } : {});
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: groupLayout, entries }));
    pass.dispatchWorkgroups(slices, rows);
    if (params2Buf !== null) {
      // the split mode's gradient dispatch: the same bindings, phase 2; it reads the statistics dispatch's records
      new Uint8Array(params2).set(new Uint8Array(params));
      pu2[11] = 2;
      queue.writeBuffer(params2Buf, 0, params2);
      const entries2 = entries.map((e) => (e.binding === 0 ? { binding: 0, resource: { buffer: params2Buf, size: PARAMS_BYTES } } : e));
      pass.setBindGroup(0, device.createBindGroup({ layout: groupLayout, entries: entries2 }));
      pass.dispatchWorkgroups(slices, rows);
    }
    pass.end();
    if (scratch !== null && b === plan.blocks - 1) enc.copyBufferToBuffer(scratch.buffer, 0, scratch.caller, scratch.at, scratch.bytes);
    return enc;
  };
  return { rowOut, grad, hostX, encode, release: () => scratch?.buffer.destroy() };
}

async function run(ctx: GpuContext, c: Call): Promise<{ result: CrossEntropyResult; grad: GPUBuffer | null }> {
  const { n, v, target, src } = c;
  const { device, buffers, pipelines } = ctx;
  const d = meanDenominator(target, c.spec, n);
  const l = layout(ctx, c);
  const { plan, eb } = l;
  const pipeline = await pipelines.get("crossEntropy", SOURCE, l.defines);

  pushErrorScopes(device);
  let failure: unknown = null;
  let gradBuf: GPUBuffer | null = null;
  const rowRead = buffers.get("rows-read", l.outBytes, MAP_READ | COPY_DST);
  try {
    const k = bind(ctx, c, l, "", d);
    ctx.timer?.begin(plan.blocks);
    gradBuf = k.grad;
    const gradOut = src.kind === "host" ? src.gradOut : null;
    const gradRead = gradOut !== null ? [buffers.get("grad-read-0", words(l.blockBytes), MAP_READ | COPY_DST), buffers.get("grad-read-1", words(l.blockBytes), MAP_READ | COPY_DST)] : [];

    // Copy block k's gradient out of its readback buffer (the GPU meanwhile runs block k+1).
    const pending: (Promise<void> | null)[] = [null, null];
    const drain = async (slot: number): Promise<void> => {
      const p = pending[slot];
      pending[slot] = null;
      if (p !== null && p !== undefined) await p;
    };

    for (let b = 0; b < plan.blocks; b++) {
      const e0 = b * plan.rowsPerBlock * v;
      const count = Math.min(plan.rowsPerBlock, n - b * plan.rowsPerBlock) * v;
      const slot = b % 2;
      await drain(slot); // its readback buffer is free again
      const enc = k.encode(b, pipeline);
      const read = gradRead[slot];
      const bytes = words(count * eb);
      if (gradOut !== null && read !== undefined) enc.copyBufferToBuffer(k.hostX!, 0, read, 0, bytes);
      device.queue.submit([enc.finish()]);
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
    k.release();

    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(k.rowOut, 0, rowRead, 0, l.outBytes);
    ctx.timer?.resolve(enc);
    device.queue.submit([enc.finish()]);
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
  await rowRead.mapAsync(MAP_READ, 0, l.outBytes);
  const rows32 = new Float32Array(rowRead.getMappedRange(0, l.outBytes).slice(0));
  rowRead.unmap();
  const { rowLoss, lse } = l.slices > 1 ? mergeRecords(c, rows32, l.slices) : unpackRows(rows32, n);
  const result = { loss: reduceLoss(rowLoss, c.spec, d), rowLoss, lse };
  const grad = src.kind === "gpu" && src.grad === "inplace" ? (src.input.buffer as GPUBuffer) : gradBuf;
  return { result, grad };
}

/**
 * GPU logits, submitted at once, nothing read back: for callers that must stay synchronous and
 * reduce the per-row values on the GPU themselves (the TensorFlow.js adapter). Needs the kernel
 * variant compiled already, or compiles it synchronously. Errors of the GPU (validation, out of
 * memory) are not seen by this call: they reach the device's uncaptured-error handler.
 */
export function crossEntropyGpuSync(ctx: GpuContext, args: GpuCrossEntropyArgs): GpuSubmission {
  const { logits } = args;
  if (!isGpuInput(logits)) throw new TypeError("webgpu backend: the synchronous path takes GPU logits only");
  const c: Call = { ...args, dtype: logits.dtype, src: { kind: "gpu", input: logits, grad: args.grad } };
  const d = meanDenominator(c.target, c.spec, c.n);
  const l = layout(ctx, c, 1); // whole rows: the caller reduces the (N, 2) per-row values
  const pipeline = ctx.pipelines.getSync("crossEntropy", SOURCE, l.defines);
  const k = bind(ctx, c, l, "sync-", d);
  for (let b = 0; b < l.plan.blocks; b++) ctx.device.queue.submit([k.encode(b, pipeline).finish()]);
  k.release();
  return { rows: k.rowOut, denominator: d, grad: args.grad === "inplace" ? (logits.buffer as GPUBuffer) : k.grad };
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
