/**
 * Validation and normalisation of linearCrossEntropy's arguments: every error message of that
 * function lives here (the options it shares with crossEntropy are checked by validate.ts).
 * Shapes: hidden (N, D), weight (V, D), bias (V); N is the target's length, D = hidden.length / N,
 * V = weight.length / D. Nothing here modifies the caller's arrays.
 */
import type { FloatArray } from "../backends/types.js";
import { LINEAR_DEFAULTS, type LinearCrossEntropyOptions, type MatrixInput, type TargetInput } from "./options.js";
import { describe, flattenFloats, isFloatArray, resolveOptions, resolveTarget, type ResolvedOptions } from "./validate.js";

const LINEAR_OPTION_KEYS = new Set<string>([
  "classes",
  "bias",
  "reduction",
  "ignoreIndex",
  "labelSmoothing",
  "classWeight",
  "zLoss",
  "softcap",
  "grad",
  "chunkSize",
  "memoryBudget",
  "gradFilter",
  "backend",
]);

/** Everything the kernel needs, validated. */
export interface ResolvedLinear {
  hidden: FloatArray;
  weight: FloatArray;
  bias: FloatArray | null;
  n: number;
  d: number;
  v: number;
  target: Int32Array | null;
  probs: FloatArray | null;
  classWeight: Float64Array | null;
  chunkRows: number;
  gradFilter: number;
  opts: ResolvedOptions;
  f32: boolean;
}

const isNested = (x: unknown): boolean => Array.isArray(x) && x.length > 0 && Array.isArray(x[0]);

/** A matrix argument as flat data, with its row count and width when given as rows. */
function flatMatrix(fn: string, name: string, x: unknown): { data: FloatArray; rows?: number; width?: number } {
  if (!isFloatArray(x) && !Array.isArray(x)) {
    throw new TypeError(`${fn}: ${name} is ${describe(x)}; expected a Float32Array, a Float64Array, a number[] or a number[][]`);
  }
  if (isNested(x)) {
    const { data, v } = flattenFloats(fn, name, x, undefined);
    return { data, rows: (x as readonly unknown[]).length, width: v };
  }
  // A flat array: the width argument only matters for rows, so any positive value will do.
  return { data: flattenFloats(fn, name, x, 1).data };
}

/** A float vector option of length v (bias, classWeight), converted to float64 or kept. */
function vectorOption(fn: string, name: string, x: unknown, v: number, nonNegative: boolean): ArrayLike<number> {
  if (!isFloatArray(x) && !Array.isArray(x)) {
    throw new TypeError(`${fn}: options.${name} is ${describe(x)}; expected a Float32Array, Float64Array or number[] of length V = ${v}`);
  }
  const a = x as ArrayLike<unknown>;
  if (a.length !== v) {
    throw new RangeError(`${fn}: options.${name} has length ${a.length}; expected V = ${v} (one per row of weight)`);
  }
  for (let j = 0; j < v; j++) {
    const e = a[j];
    if (typeof e !== "number" || Number.isNaN(e)) {
      throw new TypeError(`${fn}: options.${name}[${j}] is ${describe(e)}; expected a number`);
    }
    if (nonNegative && (!Number.isFinite(e) || e < 0)) {
      throw new RangeError(`${fn}: options.${name}[${j}] is ${e}; expected a finite number >= 0`);
    }
  }
  return a as ArrayLike<number>;
}

function castTo(f32: boolean, x: FloatArray): FloatArray {
  if (f32) return x instanceof Float32Array ? x : Float32Array.from(x);
  return x instanceof Float64Array ? x : Float64Array.from(x);
}

/** Validate a linearCrossEntropy call and derive (N, D, V). */
export function resolveLinear(
  fn: string,
  hiddenIn: MatrixInput,
  weightIn: MatrixInput,
  targetIn: TargetInput,
  options: LinearCrossEntropyOptions | undefined,
): ResolvedLinear {
  const o = (options ?? {}) as Record<string, unknown>;
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    throw new TypeError(`${fn}: options is ${describe(options)}; expected an object`);
  }
  for (const key of Object.keys(o)) {
    if (key === "weight") {
      throw new TypeError(`${fn}: unknown option "weight"; per-class weights are options.classWeight here (the head's weight is the second argument)`);
    }
    if (!LINEAR_OPTION_KEYS.has(key)) {
      throw new TypeError(`${fn}: unknown option "${key}"; expected one of ${[...LINEAR_OPTION_KEYS].join(", ")}`);
    }
  }
  const classes = o.classes;
  if (classes !== undefined && (typeof classes !== "number" || !Number.isInteger(classes) || classes < 1)) {
    throw new RangeError(`${fn}: options.classes is ${describe(classes)}; expected a positive integer`);
  }

  // N from the target: its length, or the rows of probability targets given as rows.
  let n: number | undefined;
  const isProbs = targetIn !== null && typeof targetIn === "object" && !Array.isArray(targetIn) && !ArrayBuffer.isView(targetIn);
  if (!isProbs) {
    if (!(targetIn instanceof Int32Array) && !(targetIn instanceof Uint32Array) && !Array.isArray(targetIn)) {
      throw new TypeError(`${fn}: target is ${describe(targetIn)}; expected an Int32Array, Uint32Array or number[] of length N, or { probs }`);
    }
    n = (targetIn as ArrayLike<unknown>).length;
    if (n === 0) throw new RangeError(`${fn}: target is empty; expected N >= 1 tokens`);
  } else if ("probs" in targetIn && isNested(targetIn.probs)) {
    n = (targetIn.probs as readonly unknown[]).length;
  }

  const h = flatMatrix(fn, "hidden", hiddenIn);
  const w = flatMatrix(fn, "weight", weightIn);
  if (h.data.length === 0) throw new RangeError(`${fn}: hidden is empty; expected N×D values`);
  if (w.data.length === 0) throw new RangeError(`${fn}: weight is empty; expected V×D values`);
  if (h.rows !== undefined && n !== undefined && h.rows !== n) {
    throw new RangeError(`${fn}: hidden has ${h.rows} rows; expected N = ${n} (the target's length)`);
  }
  n ??= h.rows;

  // D: from rows when given, else from N, else from V = options.classes.
  let d: number;
  if (h.width !== undefined) {
    d = h.width;
  } else if (w.width !== undefined) {
    d = w.width;
  } else if (n !== undefined) {
    if (h.data.length % n !== 0) {
      throw new RangeError(`${fn}: hidden has length ${h.data.length}, which is not a multiple of N = ${n} (the target's length); expected N×D`);
    }
    d = h.data.length / n;
  } else if (classes !== undefined) {
    if (w.data.length % (classes as number) !== 0) {
      throw new RangeError(`${fn}: weight has length ${w.data.length}, which is not a multiple of options.classes = ${classes}; expected V×D`);
    }
    d = w.data.length / (classes as number);
  } else {
    throw new TypeError(`${fn}: options.classes is required with flat probability targets and flat hidden and weight; expected the number of classes V`);
  }
  if (d < 1) throw new RangeError(`${fn}: hidden rows have length 0; expected D >= 1`);
  if (w.width !== undefined && w.width !== d) {
    throw new RangeError(`${fn}: weight rows have length ${w.width}; expected D = ${d} (hidden's row length)`);
  }
  if (h.data.length % d !== 0) {
    throw new RangeError(`${fn}: hidden has length ${h.data.length}, which is not a multiple of D = ${d} (weight's row length); expected N×D`);
  }
  if (n !== undefined && h.data.length !== n * d) {
    throw new RangeError(`${fn}: hidden has length ${h.data.length}; expected N×D = ${n}×${d} = ${n * d}`);
  }
  n = h.data.length / d;
  if (w.data.length % d !== 0) {
    throw new RangeError(`${fn}: weight has length ${w.data.length}, which is not a multiple of D = ${d} (hidden's row length); expected V×D`);
  }
  const v = w.data.length / d;
  if (classes !== undefined && classes !== v) {
    throw new RangeError(`${fn}: weight has ${v} rows of D = ${d}; expected options.classes = ${classes} rows`);
  }

  // The options shared with crossEntropy, then the linear ones.
  const shared: Record<string, unknown> = {};
  for (const key of ["reduction", "ignoreIndex", "labelSmoothing", "zLoss", "softcap", "grad", "backend"]) {
    if (o[key] !== undefined) shared[key] = o[key];
  }
  const opts = resolveOptions(fn, shared, v);
  const f32 = h.data instanceof Float32Array;
  let bias: FloatArray | null = null;
  if (o.bias !== undefined) {
    const b = vectorOption(fn, "bias", o.bias, v, false);
    bias = f32 ? (b instanceof Float32Array ? b : Float32Array.from(b)) : b instanceof Float64Array ? b : Float64Array.from(b);
  }
  const classWeight = o.classWeight === undefined ? null : Float64Array.from(vectorOption(fn, "classWeight", o.classWeight, v, true));

  let chunkRows: number;
  if (o.chunkSize !== undefined && o.memoryBudget !== undefined) {
    throw new TypeError(`${fn}: options.chunkSize and options.memoryBudget are both given; expected at most one of them`);
  }
  if (o.chunkSize !== undefined) {
    const c = o.chunkSize;
    if (typeof c !== "number" || !Number.isInteger(c) || c < 1) {
      throw new RangeError(`${fn}: options.chunkSize is ${describe(c)}; expected an integer >= 1 (rows of logits per chunk)`);
    }
    chunkRows = Math.min(c, n);
  } else {
    const budget = o.memoryBudget ?? LINEAR_DEFAULTS.memoryBudget;
    if (typeof budget !== "number" || !Number.isFinite(budget) || budget <= 0) {
      throw new RangeError(`${fn}: options.memoryBudget is ${describe(budget)}; expected a finite number of bytes > 0`);
    }
    chunkRows = Math.max(1, Math.min(n, Math.floor(budget / (v * (f32 ? 4 : 8)))));
  }

  let gradFilter = 0;
  const gf = o.gradFilter;
  if (gf === true) gradFilter = LINEAR_DEFAULTS.gradFilter;
  else if (typeof gf === "number") {
    if (!Number.isFinite(gf) || gf < 0) {
      throw new RangeError(`${fn}: options.gradFilter is ${gf}; expected true, false or a finite threshold >= 0`);
    }
    gradFilter = gf;
  } else if (gf !== undefined && gf !== false) {
    throw new TypeError(`${fn}: options.gradFilter is ${describe(gf)}; expected true, false or a threshold number`);
  }

  const { target, probs } = resolveTarget(fn, targetIn, n, v, opts.ignoreIndex);
  return {
    hidden: h.data,
    weight: castTo(f32, w.data),
    bias,
    n,
    d,
    v,
    target,
    probs,
    classWeight,
    chunkRows,
    gradFilter,
    opts,
    f32,
  };
}
