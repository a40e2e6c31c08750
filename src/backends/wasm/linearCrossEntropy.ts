/**
 * Host side of the wasm fused linear cross-entropy (the js kernel's scheme, src/backends/js/
 * linearCrossEntropy.ts, on the SIMD kernels of kernel/linearCrossEntropy.ts and kernel/matmul.ts).
 *
 * For each chunk of R rows: a "linearLogits" job (vocabulary blocks over threads), the bias on
 * the host, a cross-entropy job (rows over threads; gradient in place, with the global 1/D), the
 * bias gradient and the filter mask on the host, then a "linearGrad" job (gradHidden column groups
 * and gradWeight vocabulary blocks over threads). Every output element is written by one item
 * with a fixed summation order, so results are bitwise identical for any thread count.
 *
 * The steps are a generator of jobs, so the synchronous backend (runs each job inline) and the
 * engine (hands each job to its thread pool) share one loop.
 */
import { reduceLoss } from "../common.js";
import type { CrossEntropyArgs, LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import { rowBlock, stage, type KernelCall } from "./crossEntropy.js";
import type { WasmInstance } from "./instance.js";

/** Vocabulary rows per block (kernel/linearCrossEntropy.ts: VB). */
const VB = 256;

export interface LinearLogitsJob {
  kind: "linearLogits";
  /** Work items (vocabulary blocks). */
  n: number;
  hidden: number;
  weight: number;
  logits: number;
  rows: number;
  d: number;
  v: number;
}

export interface LinearGradJob {
  kind: "linearGrad";
  /** Work items (gradHidden column groups, then vocabulary blocks). */
  n: number;
  dl: number;
  hidden: number;
  weight: number;
  gradH: number;
  gradW: number;
  mask: number;
  rows: number;
  d: number;
  v: number;
}

/** One parallel step: the two linear jobs, or a cross-entropy kernel call over rows. */
export type LinearJob = LinearLogitsJob | LinearGradJob | { kind: "ce"; call: KernelCall };

/** Run items [i0, i1) of a linear job, or rows [i0, i1) of a cross-entropy call, on this thread. */
export function runItems(inst: WasmInstance, job: LinearJob, i0: number, i1: number, scratch?: number): void {
  const ex = inst.exports;
  if (job.kind === "linearLogits") ex.linearLogits(job.hidden, job.weight, job.logits, job.rows, job.d, job.v, i0, i1);
  else if (job.kind === "linearGrad") ex.linearGrad(job.dl, job.hidden, job.weight, job.gradH, job.gradW, job.mask, job.rows, job.d, job.v, i0, i1);
  else {
    const c = job.call;
    ex.crossEntropyRows(c.logits, c.grad, c.target, c.probs, c.weight, scratch ?? c.scratch, c.rowLoss, c.lse, c.v, i0, i1, c.eps, c.z, c.s, c.scale, c.wSum);
  }
}

/** Items of a job (rows for a cross-entropy call). */
export function jobSize(job: LinearJob): number {
  return job.kind === "ce" ? job.call.n : job.n;
}

/** Where the large operands lie in wasm memory (byte offsets); gradWeight is zero-filled, or 0. */
export interface LinearPointers {
  hidden: number;
  weight: number;
  gradWeight: number;
}

/**
 * The steps of one call, as jobs. `args` are the validated float32 kernel arguments; `ptrs` say
 * where hidden, weight and gradWeight lie in wasm memory. gradHidden and gradBias are written to
 * `args.gradHidden`/`args.gradBias` (host arrays); gradWeight stays at ptrs.gradWeight.
 * Returns the result with `scratchBytes` covering the buffers allocated here.
 */
export function* linearSteps(inst: WasmInstance, args: LinearCrossEntropyArgs, ptrs: LinearPointers, threads: number): Generator<LinearJob, LinearCrossEntropyResult, void> {
  const { n, d, v, bias, probs, gradHidden, gradBias } = args;
  const grad = gradHidden !== null;
  const rMax = Math.max(1, Math.min(n, args.chunkRows));
  const nV = Math.ceil(v / VB);
  const temps: number[] = [];
  let scratchBytes = 0;
  const take = (bytes: number): number => {
    const p = inst.alloc(bytes);
    temps.push(p);
    scratchBytes += bytes;
    return p;
  };
  try {
    const chunk = take(rMax * v * 4); // (R, V) logits, then dL in place
    const dH = grad ? take(rMax * d * 4) : 0; // (R, D)
    const probsBlock = probs !== null ? take(rMax * v * 4) : 0;
    const mask = grad && args.gradFilter > 0 ? take(nV) : 0;
    const ceArgs: CrossEntropyArgs = {
      logits: new Float32Array(0), n, v, target: args.target, probs: null, labelSmoothing: args.labelSmoothing,
      weight: args.classWeight, zLoss: args.zLoss, softcap: args.softcap, reduction: args.reduction, gradOut: null,
    };
    // Targets, class weights, per-row outputs and the scale with the global D, for all N rows.
    const staged = stage(inst, ceArgs, chunk, grad ? chunk : 0, threads);
    for (const p of staged.temps) scratchBytes += inst.sizeOf(p) ?? 0;
    temps.push(...staged.temps);
    const c = staged.call;
    const threshold = args.gradFilter * (Number.isFinite(c.scale) && c.scale > 0 ? c.scale : 1);
    const dB = grad && gradBias !== null ? new Float64Array(v) : null;
    if (dB !== null) scratchBytes += dB.byteLength;

    for (let r0 = 0; r0 < n; r0 += rMax) {
      const rows = Math.min(rMax, n - r0);
      yield { kind: "linearLogits", n: nV, hidden: ptrs.hidden + r0 * d * 4, weight: ptrs.weight, logits: chunk, rows, d, v };
      if (bias !== null) {
        const L = inst.f32(chunk, rows * v);
        for (let i = 0; i < rows; i++) {
          const o = i * v;
          for (let j = 0; j < v; j++) L[o + j]! += bias[j]!;
        }
      }
      if (probs !== null) inst.f32(probsBlock, rows * v).set(probs.subarray(r0 * v, (r0 + rows) * v));
      yield { kind: "ce", call: rowBlock(c, r0, rows, probsBlock) };
      if (!grad) continue;
      const G = inst.f32(chunk, rows * v);
      if (dB !== null) {
        for (let i = 0; i < rows; i++) {
          const o = i * v;
          for (let j = 0; j < v; j++) dB[j]! += G[o + j]!;
        }
      }
      if (mask !== 0) {
        const m = new Uint8Array(inst.buffer(), mask, nV);
        for (let b = 0; b < nV; b++) m[b] = belowThreshold(G, rows, v, b * VB, Math.min(VB, v - b * VB), threshold) ? 1 : 0;
      }
      yield {
        kind: "linearGrad", n: Math.ceil(d / 64) + nV, dl: chunk, hidden: ptrs.hidden + r0 * d * 4, weight: ptrs.weight,
        gradH: dH, gradW: ptrs.gradWeight, mask, rows, d, v,
      };
      gradHidden.set(inst.f32(dH, rows * d), r0 * d);
    }
    if (dB !== null) gradBias!.set(dB);
    const rowLoss = inst.f64(c.rowLoss, n).slice();
    const lse = inst.f64(c.lse, n).slice();
    return { loss: reduceLoss(rowLoss, args.reduction, staged.d), rowLoss, lse, scratchBytes };
  } finally {
    for (const p of temps) inst.free(p);
  }
}

/** True when every |dL| of the tile (rows, nb) at column j0 is below the threshold (NaN never is). */
function belowThreshold(dl: Float32Array, rows: number, v: number, j0: number, nb: number, threshold: number): boolean {
  for (let i = 0; i < rows; i++) {
    const o = i * v + j0;
    for (let j = 0; j < nb; j++) if (!(Math.abs(dl[o + j]!) < threshold)) return false;
  }
  return true;
}

/** Drive the steps on the calling thread. */
export function runInline(inst: WasmInstance, steps: Generator<LinearJob, LinearCrossEntropyResult, void>): LinearCrossEntropyResult {
  let r = steps.next();
  while (!r.done) {
    runItems(inst, r.value, 0, jobSize(r.value));
    r = steps.next();
  }
  return r.value;
}

/**
 * The synchronous backend's entry: hidden and weight (float32) are copied into wasm memory, and
 * gradWeight is staged there and copied out; the copies are counted in scratchBytes.
 */
export function linearCrossEntropySync(inst: WasmInstance, args: LinearCrossEntropyArgs): LinearCrossEntropyResult {
  const { n, d, v } = args;
  const temps: number[] = [];
  try {
    const hidden = inst.alloc(n * d * 4);
    temps.push(hidden);
    const weight = inst.alloc(v * d * 4);
    temps.push(weight);
    const gradWeight = args.gradWeight !== null ? inst.alloc(v * d * 4) : 0;
    if (gradWeight !== 0) temps.push(gradWeight);
    inst.f32(hidden, n * d).set(args.hidden);
    inst.f32(weight, v * d).set(args.weight);
    if (gradWeight !== 0) inst.f32(gradWeight, v * d).fill(0);
    const r = runInline(inst, linearSteps(inst, args, { hidden, weight, gradWeight }, 1));
    if (gradWeight !== 0) args.gradWeight!.set(inst.f32(gradWeight, v * d));
    return { ...r, scratchBytes: r.scratchBytes + 4 * (n * d + v * d + (gradWeight !== 0 ? v * d : 0)) };
  } finally {
    for (const p of temps) inst.free(p);
  }
}
