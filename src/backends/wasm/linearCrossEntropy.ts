/**
 * Host side of the wasm fused linear cross-entropy (the js kernel's scheme, src/backends/js/
 * linearCrossEntropy.ts, on the SIMD kernels of kernel/linearCrossEntropy.ts and kernel/matmul.ts).
 *
 * For each chunk of R rows (one parameter struct, rewritten per chunk): a "linearLogits" job
 * (vocabulary blocks over threads), the bias on
 * the host, a cross-entropy job (rows over threads; gradient in place, with the global 1/D and
 * the 1/τ of the temperature; the rows' argmax and entropy into all-N outputs when asked), the
 * bias gradient and the filter mask on the host, then a "linearGrad" job (gradHidden column groups
 * and gradWeight vocabulary blocks over threads). Every output element is written by one item
 * with a fixed summation order, so results are bitwise identical for any thread count.
 *
 * The steps are a generator of jobs, so the synchronous backend (runs each job inline) and the
 * executor (hands each job to its thread pool) share one loop.
 */
import type { LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import { gradHiddenCols, LIN_PACK_BYTES, LIN_PARAMS_BYTES, LIN_VB, logitsItems, takePackScratch, runJob, writeLinearParams, type Job } from "./abi.js";
import { pointAtRows, readRows, rowsJob, stage } from "./crossEntropy.js";
import type { WasmInstance } from "./instance.js";
import { addBias, addColumnSums, blockSteps, linearLayout, Scratch } from "./linearBlocks.js";

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
export function* linearSteps(inst: WasmInstance, args: LinearCrossEntropyArgs, ptrs: LinearPointers, threads: number): Generator<Job, LinearCrossEntropyResult, void> {
  const layout = linearLayout(args);
  if (layout.kind === "blocks") return yield* blockSteps(inst, args, ptrs, threads, layout);
  const { n, d, v, bias, probs, gradHidden, gradBias } = args;
  const grad = gradHidden !== null;
  const rMax = Math.max(1, Math.min(n, args.chunkRows));
  const nV = Math.ceil(v / LIN_VB);
  const hiddenCols = gradHiddenCols(d, threads);
  const nH = Math.ceil(d / hiddenCols);
  const scratch = new Scratch(inst);
  const take = (bytes: number): number => scratch.take(bytes);
  try {
    const chunk = take(rMax * v * 4); // (R, V) logits, then dL in place
    const dH = grad ? take(rMax * d * 4) : 0; // (R, D)
    const probsBlock = probs !== null ? take(rMax * v * 4) : 0;
    const mask = grad && args.gradFilter > 0 ? take(nV) : 0;
    const lin = take(LIN_PARAMS_BYTES);
    const pack = grad ? takePackScratch(take, rMax, threads) : 0;
    // Targets, class weights, per-row outputs and the scale with the global D, for all N rows.
    const staged = stage(inst, { n, v, target: args.target, probs: null, spec: args.spec }, chunk, grad ? chunk : 0, threads);
    scratch.adopt(staged.temps);
    const scale = staged.params.gradScale;
    const threshold = args.gradFilter * (Number.isFinite(scale) && scale > 0 ? scale : 1);
    const dB = grad && gradBias !== null ? new Float64Array(v) : null;
    if (dB !== null) scratch.bytes += dB.byteLength;

    for (let r0 = 0; r0 < n; r0 += rMax) {
      const rows = Math.min(rMax, n - r0);
      writeLinearParams(inst, lin, {
        hidden: ptrs.hidden + r0 * d * 4, weight: ptrs.weight, logits: chunk, gradHidden: dH, gradWeight: ptrs.gradWeight, mask, rows, d, v, hiddenCols,
      });
      yield { kernel: "linearLogits", params: lin, items: logitsItems(rows, v), scratch: 0, scratchStride: 0 };
      if (bias !== null) addBias(inst.f32(chunk, rows * v), rows, v, bias, 0);
      if (probs !== null) inst.f32(probsBlock, rows * v).set(probs.subarray(r0 * v, (r0 + rows) * v));
      pointAtRows(inst, staged, r0, chunk, grad ? chunk : 0, probsBlock);
      yield rowsJob(staged, rows);
      if (!grad) continue;
      const G = inst.f32(chunk, rows * v);
      if (dB !== null) addColumnSums(dB, G, rows, v, 0);
      if (mask !== 0) {
        const m = new Uint8Array(inst.buffer(), mask, nV);
        for (let b = 0; b < nV; b++) m[b] = belowThreshold(G, rows, v, b * LIN_VB, Math.min(LIN_VB, v - b * LIN_VB), threshold) ? 1 : 0;
      }
      inst.f32(dH, rows * d).fill(0);
      yield { kernel: "linearGrad", params: lin, items: nH + nV, scratch: pack, scratchStride: LIN_PACK_BYTES };
      gradHidden.set(inst.f32(dH, rows * d), r0 * d);
    }
    if (dB !== null) gradBias!.set(dB);
    return { ...readRows(inst, staged, args.spec), scratchBytes: scratch.bytes };
  } finally {
    scratch.release();
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
function runInline(inst: WasmInstance, steps: Generator<Job, LinearCrossEntropyResult, void>): LinearCrossEntropyResult {
  let r = steps.next();
  while (!r.done) {
    runJob(inst, r.value, 0, r.value.items);
    r = steps.next();
  }
  return r.value;
}

/**
 * One call from start to finish, as jobs: hidden, weight and gradWeight are used where they lie
 * when they are views of this instance's live blocks, and otherwise copied in (gradWeight
 * zero-filled, and copied out at the end); the copies are counted in scratchBytes.
 */
export function* linearCall(inst: WasmInstance, args: LinearCrossEntropyArgs, threads: number): Generator<Job, LinearCrossEntropyResult, void> {
  const { n, d, v } = args;
  const copies = new Scratch(inst);
  const copyIn = (x: ArrayLike<number> | null, len: number): number => {
    const p = copies.take(len * 4);
    if (x === null) inst.f32(p, len).fill(0);
    else inst.f32(p, len).set(x);
    return p;
  };
  try {
    const hidden = inst.owns(args.hidden) ? args.hidden.byteOffset : copyIn(args.hidden, n * d);
    const weight = inst.owns(args.weight) ? args.weight.byteOffset : copyIn(args.weight, v * d);
    const gw = args.gradWeight;
    const gradWeight = gw === null ? 0 : inst.owns(gw) ? gw.byteOffset : copyIn(null, v * d);
    const r = yield* linearSteps(inst, args, { hidden, weight, gradWeight }, threads);
    if (gw !== null && !inst.owns(gw)) gw.set(inst.f32(gradWeight, v * d));
    return { ...r, scratchBytes: r.scratchBytes + copies.bytes };
  } finally {
    copies.release();
  }
}

/** The synchronous backend's entry: the whole call on the calling thread. */
export function linearCrossEntropySync(inst: WasmInstance, args: LinearCrossEntropyArgs): LinearCrossEntropyResult {
  return runInline(inst, linearCall(inst, args, 1));
}
