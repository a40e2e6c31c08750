/**
 * The fused linear cross-entropy by vocabulary blocks: the scheme for heads whose row chunks
 * would be thin (a large V leaves few rows of logits in the memory budget, and the weight, V×D,
 * would be read and its gradient read and written once per chunk of those few rows).
 *
 * Rows are taken in groups of up to BLOCK_ROWS (R), classes in blocks of C (a multiple of 256),
 * with the logits of one (R, C) block in the budget at a time. For each group of rows:
 *   1. forward, block by block: logits = hidden[rows] · W[block]ᵀ + bias ("linearLogits", its
 *      256-class tiles over threads), then each 256-class slice's statistics ("rowStats": max,
 *      Σ exp, the target's logit, the linear terms), folded on the host in class order into
 *      each row's running statistics; at the end of the row the merge (common.ts mergeStats)
 *      gives its loss, lse and the coefficients of its gradient;
 *   2. with a gradient, block by block again: the logits recomputed, dL/dlogits in place from the
 *      merged rows ("sliceBackward"), gradBias += Σ_rows on the host, then "linearGrad":
 *      gradHidden[rows] += dL · W[block] (columns over threads, summed over the classes in
 *      increasing order, as the row scheme sums them) and gradWeight[block] += dLᵀ · hidden[rows]
 *      (written by one thread per 256-class tile, summed over the rows in increasing order).
 * The weight is thus read three times and its gradient updated once per group of R rows instead
 * of per chunk of a few rows, at the price of a fourth product (the recomputed logits). Every
 * element is computed by one kernel call in a fixed order, so results do not depend on the
 * thread count. The options are those the slice kernels cover (everything but temperature ≠ 1,
 * argmax, accuracy, entropy and the gradient filter, which keep the row scheme).
 */
import { classWeightSum, emptySliceStats, type MergeArgs, foldStats, gradScale, lmOnly, meanDenominator, mergeStats, reduceLoss } from "../common.js";
import type { LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../types.js";
import { gradHiddenCols, LIN_PACK_BYTES, LIN_PARAMS_BYTES, LIN_VB, logitsItems, takePackScratch, SL_PARAMS_BYTES, writeLinearParams, writeSliceParams, type Job } from "./abi.js";
import type { WasmInstance } from "./instance.js";
import type { LinearPointers } from "./linearCrossEntropy.js";
import { statsViews } from "./rowStats.js";
import { writeMerged } from "./sliceBackward.js";

/** The most rows of a group (the weight is swept 3 times and its gradient once per group). */
export const BLOCK_ROWS = 256;
/** Row chunks of fewer rows than this (from the budget) take the vocabulary blocks instead. */
export const BLOCKS_BELOW_ROWS = 16;

/** How a call is laid out: row chunks of `chunkRows`, or groups of `rows` rows × blocks of `cols` classes. */
export type LinearLayout = { kind: "rows" } | { kind: "blocks"; rows: number; cols: number };

/**
 * The layout of a call, by its shape, options and budget alone (never by the thread count): the
 * vocabulary blocks when the row chunks would have fewer than BLOCKS_BELOW_ROWS rows, the call
 * has more rows than one chunk, and its options are the slice kernels'. The blocks spend the
 * memory of the row chunks they replace (logits, probabilities when given, and the rows of
 * gradHidden): R·(C·(1 + probs) + D) ≤ chunkRows·(V·(1 + probs) + D) elements.
 */
export function linearLayout(args: Pick<LinearCrossEntropyArgs, "n" | "d" | "v" | "chunkRows" | "spec" | "gradFilter" | "probs">): LinearLayout {
  const { n, d, v, chunkRows, spec } = args;
  if (chunkRows >= BLOCKS_BELOW_ROWS || n <= chunkRows || args.gradFilter > 0 || lmOnly(spec)) return { kind: "rows" };
  const per = args.probs !== null ? 2 : 1;
  const budget = chunkRows * (v * per + d);
  const vTiles = Math.ceil(v / LIN_VB) * LIN_VB;
  let rows = Math.min(n, BLOCK_ROWS);
  let cols = Math.min(vTiles, Math.floor((budget / rows - d) / per / LIN_VB) * LIN_VB);
  if (cols < LIN_VB) {
    cols = LIN_VB;
    rows = Math.min(n, Math.floor(budget / (LIN_VB * per + d)));
  }
  return rows > chunkRows ? { kind: "blocks", rows, cols } : { kind: "rows" };
}

/** The steps of one call by vocabulary blocks, as jobs (the contract of linearSteps). */
export function* blockSteps(
  inst: WasmInstance,
  args: LinearCrossEntropyArgs,
  ptrs: LinearPointers,
  threads: number,
  layout: { rows: number; cols: number },
): Generator<Job, LinearCrossEntropyResult, void> {
  const { n, d, v, bias, probs, target, spec, gradHidden, gradBias } = args;
  const grad = gradHidden !== null;
  const { rows: rMax, cols: cMax } = layout;
  const scratch = new Scratch(inst);
  const take = (bytes: number): number => scratch.take(bytes);
  try {
    const block = take(rMax * cMax * 4); // (R, C) logits, then dL in place
    const dH = grad ? take(rMax * d * 4) : 0; // (R, D) float32
    const probsBlock = probs !== null ? take(rMax * cMax * 4) : 0;
    const tiles = cMax / LIN_VB;
    const stats = take(tiles * 40 * rMax);
    const merged = grad ? take(24 * rMax) : 0;
    const lin = take(LIN_PARAMS_BYTES);
    const sl = take(SL_PARAMS_BYTES);
    const pack = grad ? takePackScratch(take, rMax, threads) : 0;
    const capRows = spec.softcap > 0 ? take((threads + 1) * LIN_VB * 4) : 0; // one softcap tile per thread
    let tgt = 0;
    if (target !== null) {
      tgt = take(n * 4);
      inst.i32(tgt, n).set(target);
    }
    let classWeight = 0;
    if (spec.classWeight !== null) {
      classWeight = take(v * 8);
      inst.f64(classWeight, v).set(spec.classWeight);
    }
    const dMean = meanDenominator(target, spec, n);
    const scale = gradScale(spec.reduction, dMean);
    const constants = { wSum: classWeightSum(spec, v), d: dMean, scale };
    const rowLoss = new Float64Array(n);
    const lse = new Float64Array(n);
    const dB = grad && gradBias !== null ? new Float64Array(v) : null;
    if (dB !== null) scratch.bytes += dB.byteLength;
    const hiddenCols = gradHiddenCols(d, threads);
    const nH = Math.ceil(d / hiddenCols);

    for (let r0 = 0; r0 < n; r0 += rMax) {
      const rows = Math.min(rMax, n - r0);
      const rowTarget = target === null ? null : target.subarray(r0, r0 + rows);
      const sub: MergeArgs = { n: rows, v, target: rowTarget, spec };

      /** The logits of classes [j0, j0 + nb) for these rows in `block` (row stride nb), probabilities beside them, and the slice struct. */
      function* logits(j0: number, nb: number, backward: boolean): Generator<Job, void, void> {
        writeLinearParams(inst, lin, {
          hidden: ptrs.hidden + r0 * d * 4, weight: ptrs.weight + j0 * d * 4, logits: block, gradHidden: dH,
          gradWeight: ptrs.gradWeight === 0 ? 0 : ptrs.gradWeight + j0 * d * 4, mask: 0, rows, d, v: nb, hiddenCols,
        });
        yield { kernel: "linearLogits", params: lin, items: logitsItems(rows, nb), scratch: 0, scratchStride: 0 };
        if (bias !== null) addBias(inst.f32(block, rows * nb), rows, nb, bias, j0);
        if (probs !== null) {
          const P = inst.f32(probsBlock, rows * nb);
          for (let i = 0; i < rows; i++) P.set(probs.subarray((r0 + i) * v + j0, (r0 + i) * v + j0 + nb), i * nb);
        }
        writeSliceParams(inst, sl, {
          labelSmoothing: spec.labelSmoothing, softcap: spec.softcap, gradScale: scale,
          logits: block, grad: backward ? block : 0, probs: probsBlock, target: tgt === 0 ? 0 : tgt + r0 * 4, classWeight,
          stats: backward ? 0 : stats, merged: backward ? merged : 0,
          ld: nb, col0: j0, n: rows, v, v0: j0, v1: j0 + nb, width: LIN_VB, reuseExps: false,
        });
      }

      // 1. Forward: each row's statistics, folded tile by tile in class order.
      const acc = emptySliceStats(rows);
      for (let j0 = 0; j0 < v; j0 += cMax) {
        const nb = Math.min(cMax, v - j0);
        yield* logits(j0, nb, false);
        const items = Math.ceil(nb / LIN_VB);
        yield { kernel: "rowStats", params: sl, items, scratch: capRows, scratchStride: LIN_VB * 4 };
        const all = inst.f64(stats, items * 5 * rows);
        for (let k = 0; k < items; k++) foldStats(acc, statsViews(all, k, rows));
      }
      const m = mergeStats(sub, [acc], constants);
      rowLoss.set(m.rowLoss, r0);
      lse.set(m.lse, r0);
      if (!grad) continue;

      // 2. Backward: the logits again, dL in place, then both gradient products.
      writeMerged(inst, merged, m);
      inst.f32(dH, rows * d).fill(0);
      for (let j0 = 0; j0 < v; j0 += cMax) {
        const nb = Math.min(cMax, v - j0);
        yield* logits(j0, nb, true);
        yield { kernel: "sliceBackward", params: sl, items: Math.ceil(nb / LIN_VB), scratch: capRows, scratchStride: LIN_VB * 4 };
        if (dB !== null) addColumnSums(dB, inst.f32(block, rows * nb), rows, nb, j0);
        yield { kernel: "linearGrad", params: lin, items: nH + Math.ceil(nb / LIN_VB), scratch: pack, scratchStride: LIN_PACK_BYTES };
      }
      gradHidden.set(inst.f32(dH, rows * d), r0 * d);
    }
    if (dB !== null) gradBias!.set(dB);
    return { loss: reduceLoss(rowLoss, spec, dMean), rowLoss, lse, scratchBytes: scratch.bytes };
  } finally {
    scratch.release();
  }
}

/** The temporary blocks of one call: `take` allocates and counts them, `release` frees them all. */
export class Scratch {
  /** Bytes taken so far (callers add host buffers they count as scratch too). */
  bytes = 0;
  private readonly temps: number[] = [];

  constructor(private readonly inst: WasmInstance) {}

  take(bytes: number): number {
    const p = this.inst.alloc(bytes);
    this.temps.push(p);
    this.bytes += bytes;
    return p;
  }

  /** Adopt blocks allocated elsewhere (freed with the rest), counting their bytes. */
  adopt(ptrs: readonly number[]): void {
    for (const p of ptrs) {
      this.temps.push(p);
      this.bytes += this.inst.sizeOf(p) ?? 0;
    }
  }

  release(): void {
    for (const p of this.temps) this.inst.free(p);
    this.temps.length = 0;
  }
}

/** L (rows, nb) holds classes [j0, j0 + nb) of each row: add bias[j0 + j] to column j. */
export function addBias(L: Float32Array, rows: number, nb: number, bias: ArrayLike<number>, j0: number): void {
  for (let i = 0; i < rows; i++) {
    const o = i * nb - j0;
    for (let j = j0; j < j0 + nb; j++) L[o + j]! += bias[j]!;
  }
}

/** G (rows, nb) holds classes [j0, j0 + nb) of each row: add each column's sum, row by row in order, to sums[j0 + j]. */
export function addColumnSums(sums: Float64Array, G: Float32Array, rows: number, nb: number, j0: number): void {
  for (let i = 0; i < rows; i++) {
    const o = i * nb - j0;
    for (let j = j0; j < j0 + nb; j++) sums[j]! += G[o + j]!;
  }
}

