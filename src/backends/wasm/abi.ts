/**
 * The host's side of the kernels' ABI (field offsets in kernel/abi.ts): the parameter structs
 * written into wasm memory before a kernel runs, and the jobs that run kernels over items.
 * Field names are those of the loss spec (LossSpec in ../types.ts), end to end.
 */
import * as abi from "./kernel/abi.js";
import type { DistillationKind } from "../types.js";
import type { WasmInstance } from "./instance.js";

export const { LIN_VB, LIN_PACK_BYTES } = abi;

/**
 * gradHidden columns per linearGrad item for hidden size `d` on `threads` threads: wide items read
 * each row of the weight in longer runs (256 columns made the gradHidden product 1.2x faster than
 * 64 at D = 768), narrower ones keep at least one item per thread. Any width gives the same bits:
 * every element is still summed by one item over the vocabulary in order.
 */
export function gradHiddenCols(d: number, threads: number): number {
  return Math.max(abi.LIN_HC_MIN, Math.min(abi.LIN_HC_MAX, Math.floor(d / threads / abi.LIN_HC_MIN) * abi.LIN_HC_MIN));
}

/**
 * linearGrad's scratch for chunks of `rows` rows, from `take`: matmulAB's packed slice of B, one
 * per thread and one for the calling thread (last); 0 where matmulAB does not pack (few rows).
 */
export function takePackScratch(take: (bytes: number) => number, rows: number, threads: number): number {
  return rows >= abi.LIN_PACK_MIN_ROWS ? take((threads + 1) * abi.LIN_PACK_BYTES) : 0;
}

/** linearLogits' items for `rows` rows of `v` classes: panels of rows × blocks of classes. */
export function logitsItems(rows: number, v: number): number {
  return Math.ceil(rows / abi.LIN_PANEL) * Math.ceil(v / abi.LIN_VB);
}

/** crossEntropyRows' struct: the loss spec's scalars and where each (N, V) or (N) array lies. */
export interface CrossEntropyParams {
  labelSmoothing: number;
  zLoss: number;
  softcap: number;
  temperature: number;
  /** The gradient's factor: 1/D for mean, else 1; times 1/τ (the chain rule through c = softcap(x)/τ). */
  gradScale: number;
  /** W = Σ_j w_j (V without class weights). */
  classWeightSum: number;
  logits: number;
  grad: number;
  target: number;
  probs: number;
  classWeight: number;
  rowLoss: number;
  lse: number;
  v: number;
  /** (N) int32 output, or 0. */
  argmax: number;
  /** (N) float64 output, or 0. */
  entropy: number;
}

/** linearLogits' and linearGrad's struct, for one chunk of rows. */
export interface LinearParams {
  hidden: number;
  weight: number;
  /** The chunk's (rows, V) logits, then dL/dlogits in place. */
  logits: number;
  gradHidden: number;
  gradWeight: number;
  mask: number;
  rows: number;
  d: number;
  v: number;
  /** gradHidden columns per linearGrad item (gradHiddenCols). */
  hiddenCols: number;
}

/**
 * rowStats' and sliceBackward's struct: the loss spec's scalars, where the arrays lie, and the
 * slices: item k is the classes [v0 + k·width, min(v1, v0 + (k+1)·width)).
 */
export interface SliceParams {
  labelSmoothing: number;
  softcap: number;
  /** sliceBackward's factor: 1/D for mean, else 1. */
  gradScale: number;
  /** Rows of `ld` float32, element 0 of each row being class `col0` (logits, grad, probs). */
  logits: number;
  grad: number;
  probs: number;
  target: number;
  classWeight: number;
  /** (items, 5, N) float64 statistics, item k's at stats + 40·N·k. */
  stats: number;
  /** (3, N) float64: merged max, sum of exps, coefficient (sliceBackward). */
  merged: number;
  ld: number;
  col0: number;
  n: number;
  v: number;
  v0: number;
  v1: number;
  width: number;
  /** Without softcap: rowStats leaves exp(c − m_k) in grad and sliceBackward rescales them. */
  reuseExps: boolean;
}

/** Write crossEntropyRows' struct at `ptr` (a block of abi.CE_PARAMS_BYTES). */
export function writeCrossEntropyParams(inst: WasmInstance, ptr: number, p: CrossEntropyParams): void {
  const m = new DataView(inst.buffer(), ptr, abi.CE_PARAMS_BYTES);
  m.setFloat64(abi.CE_LABEL_SMOOTHING, p.labelSmoothing, true);
  m.setFloat64(abi.CE_Z_LOSS, p.zLoss, true);
  m.setFloat64(abi.CE_SOFTCAP, p.softcap, true);
  m.setFloat64(abi.CE_GRAD_SCALE, p.gradScale, true);
  m.setFloat64(abi.CE_CLASS_WEIGHT_SUM, p.classWeightSum, true);
  m.setUint32(abi.CE_LOGITS, p.logits, true);
  m.setUint32(abi.CE_GRAD, p.grad, true);
  m.setUint32(abi.CE_TARGET, p.target, true);
  m.setUint32(abi.CE_PROBS, p.probs, true);
  m.setUint32(abi.CE_CLASS_WEIGHT, p.classWeight, true);
  m.setUint32(abi.CE_ROW_LOSS, p.rowLoss, true);
  m.setUint32(abi.CE_LSE, p.lse, true);
  m.setInt32(abi.CE_V, p.v, true);
  m.setFloat64(abi.CE_TEMPERATURE, p.temperature, true);
  m.setUint32(abi.CE_ARGMAX, p.argmax, true);
  m.setUint32(abi.CE_ENTROPY, p.entropy, true);
}

/** Write the slice kernels' struct at `ptr` (a block of abi.SL_PARAMS_BYTES). */
export function writeSliceParams(inst: WasmInstance, ptr: number, p: SliceParams): void {
  const m = new DataView(inst.buffer(), ptr, abi.SL_PARAMS_BYTES);
  m.setFloat64(abi.SL_LABEL_SMOOTHING, p.labelSmoothing, true);
  m.setFloat64(abi.SL_SOFTCAP, p.softcap, true);
  m.setFloat64(abi.SL_GRAD_SCALE, p.gradScale, true);
  m.setUint32(abi.SL_LOGITS, p.logits, true);
  m.setUint32(abi.SL_GRAD, p.grad, true);
  m.setUint32(abi.SL_PROBS, p.probs, true);
  m.setUint32(abi.SL_TARGET, p.target, true);
  m.setUint32(abi.SL_CLASS_WEIGHT, p.classWeight, true);
  m.setUint32(abi.SL_STATS, p.stats, true);
  m.setUint32(abi.SL_MERGED, p.merged, true);
  m.setInt32(abi.SL_LD, p.ld, true);
  m.setInt32(abi.SL_COL0, p.col0, true);
  m.setInt32(abi.SL_N, p.n, true);
  m.setInt32(abi.SL_V, p.v, true);
  m.setInt32(abi.SL_V0, p.v0, true);
  m.setInt32(abi.SL_V1, p.v1, true);
  m.setInt32(abi.SL_WIDTH, p.width, true);
  m.setInt32(abi.SL_REUSE_EXPS, p.reuseExps ? 1 : 0, true);
}

/** Write the linear kernels' struct at `ptr` (a block of abi.LIN_PARAMS_BYTES). */
export function writeLinearParams(inst: WasmInstance, ptr: number, p: LinearParams): void {
  const m = new DataView(inst.buffer(), ptr, abi.LIN_PARAMS_BYTES);
  m.setUint32(abi.LIN_HIDDEN, p.hidden, true);
  m.setUint32(abi.LIN_WEIGHT, p.weight, true);
  m.setUint32(abi.LIN_LOGITS, p.logits, true);
  m.setUint32(abi.LIN_GRAD_HIDDEN, p.gradHidden, true);
  m.setUint32(abi.LIN_GRAD_WEIGHT, p.gradWeight, true);
  m.setUint32(abi.LIN_MASK, p.mask, true);
  m.setInt32(abi.LIN_ROWS, p.rows, true);
  m.setInt32(abi.LIN_D, p.d, true);
  m.setInt32(abi.LIN_V, p.v, true);
  m.setInt32(abi.LIN_HIDDEN_COLS, p.hiddenCols, true);
}

const KIND_CODE: Record<DistillationKind, number> = { kl: abi.DI_KL, "reverse-kl": abi.DI_REVERSE_KL, jsd: abi.DI_JSD };

/** The struct's fields: the spec's scalars and where each array lies (0 for absent). */
export interface DistillationParams {
  beta: number;
  temperature: number;
  /** The gradient's factor: T, times 1/K for batchmean. */
  gradScale: number;
  student: number;
  teacher: number;
  grad: number;
  target: number;
  rowLoss: number;
  v: number;
  kind: DistillationKind;
}

/** Write distillationRows' struct at `ptr` (a block of abi.DI_PARAMS_BYTES). */
export function writeDistillationParams(inst: WasmInstance, ptr: number, p: DistillationParams): void {
  const m = new DataView(inst.buffer(), ptr, abi.DI_PARAMS_BYTES);
  m.setFloat64(abi.DI_BETA, p.beta, true);
  m.setFloat64(abi.DI_TEMPERATURE, p.temperature, true);
  m.setFloat64(abi.DI_GRAD_SCALE, p.gradScale, true);
  m.setUint32(abi.DI_STUDENT, p.student, true);
  m.setUint32(abi.DI_TEACHER, p.teacher, true);
  m.setUint32(abi.DI_GRAD, p.grad, true);
  m.setUint32(abi.DI_TARGET, p.target, true);
  m.setUint32(abi.DI_ROW_LOSS, p.rowLoss, true);
  m.setInt32(abi.DI_V, p.v, true);
  m.setInt32(abi.DI_KIND, KIND_CODE[p.kind], true);
}

export const CE_PARAMS_BYTES = abi.CE_PARAMS_BYTES;
export const DI_PARAMS_BYTES = abi.DI_PARAMS_BYTES;
export const LIN_PARAMS_BYTES = abi.LIN_PARAMS_BYTES;
export const SL_PARAMS_BYTES = abi.SL_PARAMS_BYTES;

/**
 * One parallel step: a kernel over items [0, items) whose struct lies at `params`. Rows for
 * crossEntropyRows and distillationRows, vocabulary slices for rowStats and sliceBackward (each
 * thread of these four with its own scratch row at scratch + thread·scratchStride), vocabulary
 * blocks and column groups for the linear kernels (linearGrad with its own packing scratch).
 */
export interface Job {
  kernel: "crossEntropyRows" | "rowStats" | "sliceBackward" | "linearLogits" | "linearGrad" | "distillationRows";
  params: number;
  items: number;
  scratch: number;
  scratchStride: number;
  /**
   * For jobs run twice over the same items (vocabSplit's statistics, then its backward over the
   * same slices): each thread's first claim is likely one of `threads` chunks of
   * items / (2·threads) consecutive items, the same chunk in both jobs when the threads arrive in
   * the same order, so that the second job finds those items in the cache of the core that
   * touched them; the other half goes one item per claim, which balances the load. Otherwise rows
   * go 8 chunks per thread and other items one per claim.
   */
  affinity?: boolean;
}

/** Run items [i0, i1) of a job on this thread (as thread `thread` of the job). */
export function runJob(inst: WasmInstance, job: Job, i0: number, i1: number, thread = 0): void {
  const ex = inst.exports;
  const scratch = job.scratch === 0 ? 0 : job.scratch + thread * job.scratchStride;
  if (job.kernel === "crossEntropyRows") ex.crossEntropyRows(job.params, i0, i1, scratch);
  else if (job.kernel === "distillationRows") ex.distillationRows(job.params, i0, i1, scratch);
  else if (job.kernel === "rowStats") ex.rowStats(job.params, i0, i1, scratch);
  else if (job.kernel === "sliceBackward") ex.sliceBackward(job.params, i0, i1, scratch);
  else if (job.kernel === "linearLogits") ex.linearLogits(job.params, i0, i1);
  else ex.linearGrad(job.params, i0, i1, scratch);
}
