/**
 * Host side of the wasm cross-entropy kernel: stage the small per-call arrays (targets, class
 * weights, per-row outputs) and the parameter struct in wasm memory, run the kernel over rows,
 * read the per-row results back and reduce them in row order on the host (so results never
 * depend on how rows were split). The (N, V) logits and gradient are placed by the caller: the
 * executor passes engine memory (zero-copy); the sync backend streams blocks of rows through a
 * small staging buffer.
 */
import { classWeightSum, gradScale, meanDenominator, reduceLoss, wantsArgmax } from "../common.js";
import type { CrossEntropyArgs, CrossEntropyResult, LossSpec } from "../types.js";
import { CE_PARAMS_BYTES, runJob, writeCrossEntropyParams, type CrossEntropyParams, type Job } from "./abi.js";
import type { WasmInstance } from "./instance.js";

/** A staged call: its struct (at `ptr`), the softcap scratch rows, and the temporaries to free afterwards. */
export interface Staged {
  params: CrossEntropyParams;
  ptr: number;
  /** Softcap scratch: one row of V float32 per thread, or 0. */
  scratch: number;
  temps: number[];
  /** The mean's denominator over all N rows. */
  d: number;
  n: number;
}

/**
 * Stage everything but the logits and the gradient, and write the struct. `probsPtr` may be given
 * when the probability targets already live in wasm memory; otherwise they are copied in (as float32).
 */
export function stage(
  inst: WasmInstance,
  args: Pick<CrossEntropyArgs, "n" | "v" | "target" | "probs" | "spec">,
  logits: number,
  grad: number,
  threads: number,
  probsPtr = 0,
): Staged {
  const { n, v, spec } = args;
  const temps: number[] = [];
  const take = (bytes: number): number => {
    const p = inst.alloc(bytes);
    temps.push(p);
    return p;
  };
  try {
    const ptr = take(CE_PARAMS_BYTES);
    let target = 0;
    if (args.target !== null) {
      target = take(n * 4);
      inst.i32(target, n).set(args.target);
    }
    let probs = probsPtr;
    if (args.probs !== null && probs === 0) {
      probs = take(n * v * 4);
      inst.f32(probs, n * v).set(args.probs);
    }
    let classWeight = 0;
    if (spec.classWeight !== null) {
      classWeight = take(v * 8);
      inst.f64(classWeight, v).set(spec.classWeight);
    }
    const scratch = spec.softcap > 0 || spec.temperature !== 1 ? take(threads * v * 4) : 0;
    const rowLoss = take(n * 8);
    const lse = take(n * 8);
    const argmax = wantsArgmax(spec) ? take(n * 4) : 0;
    const entropy = spec.entropy ? take(n * 8) : 0;
    const d = meanDenominator(args.target, spec, n);
    const params: CrossEntropyParams = {
      labelSmoothing: spec.labelSmoothing,
      zLoss: spec.zLoss,
      softcap: spec.softcap,
      temperature: spec.temperature,
      gradScale: gradScale(spec.reduction, d) / spec.temperature,
      classWeightSum: classWeightSum(spec, v),
      logits, grad, target, probs, classWeight, rowLoss, lse, v, argmax, entropy,
    };
    writeCrossEntropyParams(inst, ptr, params);
    return { params, ptr, scratch, temps, d, n };
  } catch (e) {
    for (const p of temps) inst.free(p);
    throw e;
  }
}

/**
 * Point the struct at rows [r0, r0 + rows) whose logits (and probs, and gradient) were copied into
 * one block at `block` (`probsBlock`): targets and per-row outputs advance by r0.
 */
export function pointAtRows(inst: WasmInstance, s: Staged, r0: number, block: number, grad: number, probsBlock: number): void {
  const p = s.params;
  writeCrossEntropyParams(inst, s.ptr, {
    ...p,
    logits: block,
    grad,
    probs: probsBlock,
    target: p.target === 0 ? 0 : p.target + r0 * 4,
    rowLoss: p.rowLoss + r0 * 8,
    lse: p.lse + r0 * 8,
    argmax: p.argmax === 0 ? 0 : p.argmax + r0 * 4,
    entropy: p.entropy === 0 ? 0 : p.entropy + r0 * 8,
  });
}

/** The job over `rows` rows of the struct as it now stands. */
export function rowsJob(s: Staged, rows: number): Job {
  return { kernel: "crossEntropyRows", params: s.ptr, items: rows, scratch: s.scratch, scratchStride: s.params.v * 4 };
}

/** Copy the per-row results of all N rows out of wasm memory and reduce the loss in row order (the temporaries stay). */
export function readRows(inst: WasmInstance, s: Staged, spec: LossSpec): CrossEntropyResult {
  const { params: p, n } = s;
  const rowLoss = inst.f64(p.rowLoss, n).slice();
  const lse = inst.f64(p.lse, n).slice();
  const argmax = p.argmax === 0 ? undefined : inst.i32(p.argmax, n).slice();
  const entropy = p.entropy === 0 ? undefined : inst.f64(p.entropy, n).slice();
  return { loss: reduceLoss(rowLoss, spec, s.d), rowLoss, lse, argmax, entropy };
}

/** Read the per-row results, reduce them in row order, and free the temporaries. */
export function collect(inst: WasmInstance, s: Staged, spec: LossSpec): CrossEntropyResult {
  const result = readRows(inst, s, spec);
  for (const t of s.temps) inst.free(t);
  return result;
}

/** Elements of logits staged at once by the synchronous backend (16 MiB of float32). */
const BLOCK_ELEMENTS = 1 << 22;

/**
 * The synchronous path: float32 logits from anywhere are streamed through wasm memory in blocks
 * of rows (one block buffer, plus one for the probabilities), so the extra memory is O(block),
 * never N×V. The gradient is computed in place in the block, then copied out.
 */
export function crossEntropySync(inst: WasmInstance, args: CrossEntropyArgs): CrossEntropyResult {
  const { n, v, logits, gradOut, probs } = args;
  const rows = Math.max(1, Math.min(n, Math.floor(BLOCK_ELEMENTS / v)));
  const temps: number[] = [];
  let staged: Staged | null = null;
  try {
    const block = inst.alloc(rows * v * 4);
    temps.push(block);
    const probsBlock = probs !== null ? inst.alloc(rows * v * 4) : 0;
    if (probsBlock !== 0) temps.push(probsBlock);
    staged = stage(inst, { ...args, probs: null }, block, 0, 1);
    for (let r0 = 0; r0 < n; r0 += rows) {
      const r1 = Math.min(n, r0 + rows);
      const len = (r1 - r0) * v;
      inst.f32(block, len).set(logits.subarray(r0 * v, r1 * v));
      if (probs !== null) inst.f32(probsBlock, len).set(probs.subarray(r0 * v, r1 * v));
      pointAtRows(inst, staged, r0, block, gradOut !== null ? block : 0, probsBlock);
      runJob(inst, rowsJob(staged, r1 - r0), 0, r1 - r0);
      if (gradOut !== null) gradOut.set(inst.f32(block, len), r0 * v);
    }
    const result = collect(inst, staged, args.spec);
    staged = null;
    return result;
  } finally {
    if (staged !== null) for (const p of staged.temps) inst.free(p);
    for (const p of temps) inst.free(p);
  }
}
