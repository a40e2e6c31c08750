/**
 * Host side of the wasm cross-entropy kernel: stage the small per-call arrays (targets, weights,
 * per-row outputs) in wasm memory, run the kernel over rows, read the per-row results back and
 * reduce them in row order on the host (so results never depend on how rows were split).
 * The (N, V) logits and gradient are placed by the caller: the engine passes engine memory
 * (zero-copy); the sync backend streams blocks of rows through a small staging buffer.
 */
import { gradScale, meanDenominator, reduceLoss } from "../common.js";
import type { CrossEntropyArgs, CrossEntropyResult } from "../types.js";
import type { WasmInstance } from "./instance.js";

/** The kernel's arguments for a whole call; a runner splits [0, n) into row ranges. */
export interface KernelCall {
  logits: number;
  grad: number;
  target: number;
  probs: number;
  weight: number;
  /** Scratch rows (V float32 each), one per thread, when softcap is on; else 0. */
  scratch: number;
  rowLoss: number;
  lse: number;
  n: number;
  v: number;
  eps: number;
  z: number;
  s: number;
  scale: number;
  wSum: number;
}

/** A staged call: the kernel arguments, and the temporaries to free afterwards. */
export interface Staged {
  call: KernelCall;
  temps: number[];
  d: number;
}

/**
 * Stage everything but the logits and the gradient. `probsPtr` may be given when the probability
 * targets already live in wasm memory; otherwise they are copied in (as float32).
 */
export function stage(inst: WasmInstance, args: CrossEntropyArgs, logits: number, grad: number, threads: number, probsPtr = 0): Staged {
  const { n, v } = args;
  const temps: number[] = [];
  const take = (bytes: number): number => {
    const p = inst.alloc(bytes);
    temps.push(p);
    return p;
  };
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
  let weight = 0;
  let wSum = v;
  if (args.weight !== null) {
    weight = take(v * 8);
    inst.f64(weight, v).set(args.weight);
    wSum = 0;
    for (let j = 0; j < v; j++) wSum += args.weight[j]!;
  }
  const scratch = args.softcap > 0 ? take(threads * v * 4) : 0;
  const rowLoss = take(n * 8);
  const lse = take(n * 8);
  const d = meanDenominator(args);
  const call: KernelCall = {
    logits, grad, target, probs, weight, scratch, rowLoss, lse, n, v,
    eps: args.labelSmoothing, z: args.zLoss, s: args.softcap, scale: gradScale(args.reduction, d), wSum,
  };
  return { call, temps, d };
}

/**
 * The call for `rows` rows starting at row r0 of a staged call whose logits (and probs) have been
 * copied into one block: targets and per-row outputs advance by r0, the block is the row 0.
 */
export function rowBlock(c: KernelCall, r0: number, rows: number, probsBlock: number): KernelCall {
  return {
    ...c,
    probs: probsBlock,
    target: c.target === 0 ? 0 : c.target + r0 * 4,
    rowLoss: c.rowLoss + r0 * 8,
    lse: c.lse + r0 * 8,
    n: rows,
  };
}

/** Run rows [row0, row1) of a call on this thread. */
export function runRows(inst: WasmInstance, c: KernelCall, row0: number, row1: number, scratch = c.scratch): void {
  inst.exports.crossEntropyRows(c.logits, c.grad, c.target, c.probs, c.weight, scratch, c.rowLoss, c.lse, c.v, row0, row1, c.eps, c.z, c.s, c.scale, c.wSum);
}

/** Read the per-row results, reduce them in row order, and free the temporaries. */
export function collect(inst: WasmInstance, staged: Staged, args: CrossEntropyArgs): CrossEntropyResult {
  const { call, temps, d } = staged;
  const rowLoss = inst.f64(call.rowLoss, call.n).slice();
  const lse = inst.f64(call.lse, call.n).slice();
  for (const p of temps) inst.free(p);
  return { loss: reduceLoss(rowLoss, args.reduction, d), rowLoss, lse };
}

/** Elements of logits staged at once by the synchronous backend (16 MiB of float32). */
const BLOCK_ELEMENTS = 1 << 22;

/**
 * The synchronous path: float32 logits from anywhere are streamed through wasm memory in blocks
 * of rows (one block buffer, plus one for the gradient), so the extra memory is O(block), never N×V.
 */
export function crossEntropySync(inst: WasmInstance, args: CrossEntropyArgs): CrossEntropyResult {
  const { n, v } = args;
  const logits = args.logits as Float32Array;
  const gradOut = args.gradOut as Float32Array | null;
  const rows = Math.max(1, Math.min(n, Math.floor(BLOCK_ELEMENTS / v)));
  const block = inst.alloc(rows * v * 4);
  const probsBlock = args.probs !== null ? inst.alloc(rows * v * 4) : 0;
  let staged: Staged | null = null;
  try {
    // The gradient is computed in place in the block, then copied out.
    staged = stage(inst, { ...args, probs: null }, block, gradOut !== null ? block : 0, 1);
    const c = staged.call;
    for (let r0 = 0; r0 < n; r0 += rows) {
      const r1 = Math.min(n, r0 + rows);
      const len = (r1 - r0) * v;
      inst.f32(block, len).set(logits.subarray(r0 * v, r1 * v));
      if (args.probs !== null) inst.f32(probsBlock, len).set(args.probs.subarray(r0 * v, r1 * v));
      runRows(inst, rowBlock(c, r0, r1 - r0, probsBlock), 0, r1 - r0);
      if (gradOut !== null) gradOut.set(inst.f32(block, len), r0 * v);
    }
    const result = collect(inst, staged, args);
    staged = null;
    return result;
  } finally {
    if (staged !== null) for (const p of staged.temps) inst.free(p);
    inst.free(block);
    if (probsBlock !== 0) inst.free(probsBlock);
  }
}
