/**
 * The slice suite's inputs and drivers: every option combination on index and probability
 * targets, with masks (±Infinity, NaN), V = 1 and all-ignored rows, and a runner that computes a
 * call slice by slice (rowStats per slice, mergeStats, sliceBackward per slice) on one backend.
 */
import { allocSliceStats, lossSpec, mergeStats } from "../../src/backends/common.js";
import * as jsCe from "../../src/backends/js/crossEntropy.js";
import { rowStats as jsRowStats } from "../../src/backends/js/rowStats.js";
import { sliceBackward as jsSliceBackward } from "../../src/backends/js/sliceBackward.js";
import * as refCe from "../../src/backends/reference/crossEntropy.js";
import { rowStats as refRowStats } from "../../src/backends/reference/rowStats.js";
import { sliceBackward as refSliceBackward } from "../../src/backends/reference/sliceBackward.js";
import type { CrossEntropyArgs, CrossEntropyResult, FloatArray, MergedStats, Reduction, SliceStats, VocabSlice } from "../../src/backends/types.js";
import { crossEntropySync } from "../../src/backends/wasm/crossEntropy.js";
import type { WasmInstance } from "../../src/backends/wasm/instance.js";
import { rowStats as wasmRowStats } from "../../src/backends/wasm/rowStats.js";
import { sliceBackward as wasmSliceBackward } from "../../src/backends/wasm/sliceBackward.js";
import { genTargets, genValues, rng } from "../helpers/gen.js";

/** One backend's fused kernel and its three slice steps. */
export interface SliceBackend {
  name: string;
  f64: boolean;
  fused(args: CrossEntropyArgs): CrossEntropyResult;
  rowStats(args: CrossEntropyArgs, slice: VocabSlice, out: SliceStats): void;
  sliceBackward(args: CrossEntropyArgs, slice: VocabSlice, merged: MergedStats): void;
}

export const referenceSlices: SliceBackend = { name: "reference", f64: true, fused: refCe.crossEntropy, rowStats: refRowStats, sliceBackward: refSliceBackward };
export const jsSlices: SliceBackend = { name: "js", f64: true, fused: jsCe.crossEntropy, rowStats: jsRowStats, sliceBackward: jsSliceBackward };
export function wasmSlices(inst: WasmInstance): SliceBackend {
  return {
    name: "wasm",
    f64: false,
    fused: (a) => crossEntropySync(inst, a),
    rowStats: (a, s, o) => wasmRowStats(inst, a, s, o),
    sliceBackward: (a, s, m) => wasmSliceBackward(inst, a, s, m),
  };
}

/** An input: logits as float64 (float32-exact), targets, the options as kernel arguments. */
export interface SliceCase {
  name: string;
  n: number;
  v: number;
  logits: Float64Array;
  target: Int32Array | null;
  probs: Float64Array | null;
  labelSmoothing: number;
  weight: Float64Array | null;
  zLoss: number;
  softcap: number;
  reduction: Reduction;
}

/** Kernel arguments of a case in a dtype; the gradient goes to a fresh zeroed array when `grad`. */
export function argsOf(c: SliceCase, f32: boolean, grad: boolean): CrossEntropyArgs {
  const mk = (x: Float64Array): FloatArray => (f32 ? new Float32Array(x) : Float64Array.from(x));
  return {
    logits: mk(c.logits),
    n: c.n,
    v: c.v,
    target: c.target,
    probs: c.probs === null ? null : mk(c.probs),
    spec: lossSpec({ labelSmoothing: c.labelSmoothing, classWeight: c.weight, zLoss: c.zLoss, softcap: c.softcap, reduction: c.reduction }),
    gradOut: grad ? (f32 ? new Float32Array(c.n * c.v) : new Float64Array(c.n * c.v)) : null,
  };
}

function normalisedProbs(n: number, v: number, seed: number): Float64Array {
  const raw = genValues(n * v, seed, 1).map((x) => Math.abs(x));
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < v; j++) s += raw[i * v + j]!;
    for (let j = 0; j < v; j++) raw[i * v + j] = s > 0 ? raw[i * v + j]! / s : 1 / v;
  }
  return Float64Array.from(new Float32Array(raw));
}

/** Logit fillings: plain, extreme (±1e4), and masked (−Infinity, a +Infinity row, a NaN row, a −Infinity target). */
type Filling = "plain" | "extreme" | "masked";

function logitsOf(n: number, v: number, fill: Filling, target: Int32Array | null): Float64Array {
  const x = genValues(n * v, n * 31 + v, fill === "extreme" ? 1e4 : 6);
  if (fill === "masked") {
    for (let k = 2; k < x.length; k += 5) x[k] = -Infinity;
    if (n >= 3 && v >= 3) {
      x[1 * v + Math.floor(v / 2)] = Number.NaN; // row 1: a NaN
      // Row 2: +Infinity, only where rows are not ignored: the fused js kernel's one-pass path,
      // which ignored rows take, gives lse +Infinity there where the reference gives NaN.
      if (target === null || target[2]! >= 0) x[2 * v + v - 1] = Infinity;
    }
    if (target !== null && n >= 4 && target[3]! >= 0) x[3 * v + target[3]!] = -Infinity; // row 3: target masked
  }
  return x;
}

/** Every option combination × index / probability targets × fillings, on a few shapes. */
export function sliceCases(): SliceCase[] {
  const out: SliceCase[] = [];
  const shapes: [number, number][] = [[6, 37], [4, 1], [3, 1031], [2, 4099]];
  const reductions: Reduction[] = ["mean", "sum", "none"];
  for (const [n, v] of shapes) {
    const weight = Float64Array.from(genValues(v, v + 3, 1), (x) => Math.abs(x) + 0.1);
    for (const kind of ["index", "ignored", "probs"] as const) {
      let target: Int32Array | null = null;
      if (kind !== "probs") {
        target = genTargets(n, n * v + 1, v);
        if (kind === "ignored") target.fill(-1); // every row ignored
        else target[n - 1] = -1; // the last row ignored
      }
      const probs = kind === "probs" ? normalisedProbs(n, v, n + v) : null;
      for (const fill of ["plain", "extreme", "masked"] as Filling[]) {
        const logits = logitsOf(n, v, fill, target);
        for (const reduction of reductions) {
          for (let bits = 0; bits < 16; bits++) {
            // Extreme and masked fillings, and the widest shape, run the grid's two corners only.
            if ((fill !== "plain" || v > 2048) && bits !== 0 && bits !== 15) continue;
            const eps = bits & 1 ? 0.1 : 0;
            const w = bits & 2 ? weight : null;
            const z = bits & 4 ? 1e-3 : 0;
            const s = bits & 8 ? 4 : 0;
            out.push({
              name: `${n}x${v}/${kind}/${fill}/${reduction}/eps=${eps},w=${w !== null},z=${z},softcap=${s}`,
              n, v, logits, target, probs, labelSmoothing: eps, weight: w, zLoss: z, softcap: s, reduction,
            });
          }
        }
      }
    }
  }
  return out;
}

/**
 * Slice boundaries 0 = b_0 <= b_1 <= … <= b_K = V for K in 1..7, seeded: random cuts (empty
 * slices allowed), and edge layouts (a slice of width 1 at either end, widths not multiples of 4).
 */
export function boundariesFor(v: number, seed: number): number[][] {
  const r = rng(seed);
  const out: number[][] = [[0, v]];
  for (let k = 2; k <= 7; k++) {
    const cuts = Array.from({ length: k - 1 }, () => Math.floor(r() * (v + 1))).sort((a, b) => a - b);
    out.push([0, ...cuts, v]);
  }
  out.push([0, Math.min(1, v), v]);
  out.push([0, Math.max(0, v - 1), v]);
  out.push([0, 0, Math.min(3, v), Math.min(7, v), v, v]);
  return out;
}

export function slicesOf(bounds: readonly number[], v: number, local: boolean): VocabSlice[] {
  const out: VocabSlice[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const v0 = bounds[k]!;
    const v1 = bounds[k + 1]!;
    out.push(local ? { v0, v1, col0: v0, stride: v1 - v0 } : { v0, v1, col0: 0, stride: v });
  }
  return out;
}

/** The columns [v0, v1) of each row of an (N, V) array, as an (N, v1 − v0) array of the same type. */
export function columns<T extends FloatArray>(a: T, n: number, v: number, v0: number, v1: number): T {
  const out = a instanceof Float32Array ? new Float32Array(n * (v1 - v0)) : new Float64Array(n * (v1 - v0));
  for (let i = 0; i < n; i++) out.set(a.subarray(i * v + v0, i * v + v1), i * (v1 - v0));
  return out as T;
}

/**
 * Run a call slice by slice on a backend. With `local`, every slice runs as a shard that holds
 * only its own columns (logits, probs, gradient); otherwise on the full rows. Returns the merge
 * and the full (N, V) gradient (or null).
 */
export function runSliced(be: SliceBackend, args: CrossEntropyArgs, bounds: readonly number[], local = false): { merged: MergedStats; grad: FloatArray | null } {
  const { n, v } = args;
  const slices = slicesOf(bounds, v, local);
  const shard = (sl: VocabSlice, gradOut: FloatArray | null): CrossEntropyArgs =>
    local
      ? { ...args, logits: columns(args.logits, n, v, sl.v0, sl.v1), probs: args.probs === null ? null : columns(args.probs, n, v, sl.v0, sl.v1), gradOut }
      : { ...args, gradOut };
  const stats = slices.map((sl) => {
    const st = allocSliceStats(n);
    be.rowStats(shard(sl, null), sl, st);
    return st;
  });
  const merged = mergeStats(args, stats);
  const grad = args.gradOut;
  if (grad !== null) {
    for (const sl of slices) {
      if (!local) {
        be.sliceBackward(shard(sl, grad), sl, merged);
        continue;
      }
      const g = grad instanceof Float32Array ? new Float32Array(n * sl.stride) : new Float64Array(n * sl.stride);
      be.sliceBackward(shard(sl, g), sl, merged);
      for (let i = 0; i < n; i++) grad.set(g.subarray(i * sl.stride, (i + 1) * sl.stride), i * v + sl.v0);
    }
  }
  return { merged, grad };
}

/** The largest finite |x| (at least 1), which scales the absolute part of value tolerances. */
export function maxAbs(x: ArrayLike<number>): number {
  let m = 1;
  for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i]!)) m = Math.max(m, Math.abs(x[i]!));
  return m;
}
