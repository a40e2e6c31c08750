/**
 * Staging for the synchronous wasm slice wrappers (rowStats.ts, sliceBackward.ts): one slice's
 * columns of the logits (and probabilities) are copied into wasm memory as N rows of the slice's
 * width, beside the targets and the weights; everything is freed by `release`. The engine's
 * threaded path (vocabSplit.ts) needs none of this: its data already lives in wasm memory.
 */
import type { CrossEntropyArgs, VocabSlice } from "../types.js";
import { runJob, SL_PARAMS_BYTES, writeSliceParams } from "./abi.js";
import type { WasmInstance } from "./instance.js";

export interface StagedSlice {
  /** (N, width) float32 logits of the slice; the gradient is written here too. */
  readonly x: number;
  /** (N, width) float32 probabilities of the slice, or 0. */
  readonly probs: number;
  readonly target: number;
  /** (V) float64 weights, or 0. */
  readonly weight: number;
  /** width float32 of softcap scratch, or 0. */
  readonly scratch: number;
  readonly width: number;
  release(): void;
}

export function stageSlice(inst: WasmInstance, fn: string, args: CrossEntropyArgs, slice: VocabSlice): StagedSlice {
  const { logits, n, v, target, probs } = args;
  const { classWeight: weight, softcap: s } = args.spec;
  if (!(logits instanceof Float32Array)) throw new TypeError(`${fn}: the wasm kernels take float32 logits; got ${logits.constructor.name}`);
  const { v0, v1, col0, stride } = slice;
  const width = v1 - v0;
  const temps: number[] = [];
  const take = (bytes: number): number => {
    const p = inst.alloc(bytes);
    temps.push(p);
    return p;
  };
  const release = (): void => {
    for (const p of temps) inst.free(p);
  };
  try {
    const copyIn = (src: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }): number => {
      const p = take(n * width * 4);
      const dst = inst.f32(p, n * width);
      for (let i = 0; i < n; i++) dst.set(src.subarray(i * stride + v0 - col0, i * stride + v1 - col0), i * width);
      return p;
    };
    const x = copyIn(logits);
    const p = probs === null ? 0 : copyIn(probs);
    let t = 0;
    if (target !== null) {
      t = take(n * 4);
      inst.i32(t, n).set(target);
    }
    let w = 0;
    if (weight !== null) {
      w = take(v * 8);
      inst.f64(w, v).set(weight);
    }
    const scratch = s > 0 ? take(width * 4) : 0;
    return { x, probs: p, target: t, weight: w, scratch, width, release };
  } catch (e) {
    release();
    throw e;
  }
}

/**
 * Run `kernel` once over a staged slice (one item: the whole slice), its struct written for the
 * call: statistics at `stats`, merged rows at `merged`, gradient in place over the staged logits.
 */
export function runStaged(
  inst: WasmInstance,
  kernel: "rowStats" | "sliceBackward",
  args: CrossEntropyArgs,
  slice: VocabSlice,
  st: StagedSlice,
  at: { stats: number; merged: number; gradScale: number },
): void {
  const params = inst.alloc(SL_PARAMS_BYTES);
  try {
    const { labelSmoothing, softcap } = args.spec;
    writeSliceParams(inst, params, {
      labelSmoothing, softcap, gradScale: at.gradScale,
      logits: st.x, grad: st.x, probs: st.probs, target: st.target, classWeight: st.weight, stats: at.stats, merged: at.merged,
      ld: st.width, col0: slice.v0, n: args.n, v: args.v, v0: slice.v0, v1: slice.v1, width: st.width, reuseExps: false,
    });
    runJob(inst, { kernel, params, items: 1, scratch: st.scratch, scratchStride: 0 }, 0, 1);
  } finally {
    inst.free(params);
  }
}
