/**
 * Validation and normalisation, in one place: every error message of the API lives here.
 * Each error names the function, the argument, the offending index or value, and what was
 * expected. Nothing here modifies the caller's arrays.
 */
import type { FloatArray, Reduction } from "../backends/types.js";
import { DEFAULTS, type CrossEntropyOptions, type LogitsInput, type TargetInput } from "./options.js";

const REDUCTIONS: readonly Reduction[] = ["mean", "sum", "none"];
const OPTION_KEYS = new Set<string>([
  "classes",
  "reduction",
  "ignoreIndex",
  "labelSmoothing",
  "weight",
  "zLoss",
  "softcap",
  "grad",
  "inplace",
  "backend",
]);

/** Validated options with defaults applied. */
export interface ResolvedOptions {
  reduction: Reduction;
  ignoreIndex: number;
  labelSmoothing: number;
  weight: Float64Array | null;
  zLoss: number;
  softcap: number;
  grad: boolean;
  inplace: boolean;
  backend: string;
}

/** Logits as one flat float array with its shape. `owned` is false when it is the caller's array. */
export interface FlatLogits {
  data: FloatArray;
  n: number;
  v: number;
  /** True when `data` is the caller's own typed array (not a converted copy). */
  callerBuffer: boolean;
}

/** A short description of a value for error messages. */
export function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name} of length ${(x as unknown as ArrayLike<unknown>).length}`;
  if (typeof x === "number") return String(x);
  return typeof x;
}

export function isFloatArray(x: unknown): x is FloatArray {
  return x instanceof Float32Array || x instanceof Float64Array;
}

function checkNumberArray(fn: string, name: string, rows: readonly unknown[], offset: number, out: Float64Array): void {
  for (let j = 0; j < rows.length; j++) {
    const x = rows[j];
    if (typeof x !== "number") {
      throw new TypeError(`${fn}: ${name}[${offset + j}] is ${describe(x)}; expected a number`);
    }
    out[offset + j] = x;
  }
}

/**
 * Flatten a float input (logits or probabilities) of N×V into a typed array.
 * `v` may be undefined for nested rows (it is then taken from the first row).
 */
export function flattenFloats(fn: string, name: string, x: unknown, v: number | undefined): { data: FloatArray; v: number; callerBuffer: boolean } {
  if (isFloatArray(x)) {
    if (v === undefined) throw new TypeError(`${fn}: options.classes is required when ${name} is a flat array; expected the number of classes V`);
    return { data: x, v, callerBuffer: true };
  }
  if (!Array.isArray(x)) {
    throw new TypeError(`${fn}: ${name} is ${describe(x)}; expected a Float32Array, a Float64Array, a number[] or a number[][]`);
  }
  if (x.length > 0 && Array.isArray(x[0])) {
    const rows = x as readonly unknown[];
    const width = (rows[0] as readonly unknown[]).length;
    if (v !== undefined && width !== v) {
      throw new RangeError(`${fn}: ${name}[0] has length ${width}; expected options.classes = ${v}`);
    }
    const out = new Float64Array(rows.length * width);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!Array.isArray(r)) throw new TypeError(`${fn}: ${name}[${i}] is ${describe(r)}; expected a row of ${width} numbers`);
      if (r.length !== width) throw new RangeError(`${fn}: ${name}[${i}] has length ${r.length}; expected ${width} (the length of row 0)`);
      checkNumberArray(fn, `${name}[${i}]`, r, 0, out.subarray(i * width, (i + 1) * width));
    }
    return { data: out, v: width, callerBuffer: false };
  }
  if (v === undefined) throw new TypeError(`${fn}: options.classes is required when ${name} is a flat array; expected the number of classes V`);
  const out = new Float64Array(x.length);
  checkNumberArray(fn, name, x, 0, out);
  return { data: out, v, callerBuffer: false };
}

/** Validate `classes` and the logits, returning the flat logits and the shape (N, V). */
export function resolveLogits(fn: string, logits: LogitsInput, classes: unknown): FlatLogits {
  if (classes !== undefined && (typeof classes !== "number" || !Number.isInteger(classes) || classes < 1)) {
    throw new RangeError(`${fn}: options.classes is ${describe(classes)}; expected a positive integer`);
  }
  const { data, v, callerBuffer } = flattenFloats(fn, "logits", logits, classes as number | undefined);
  if (v < 1) throw new RangeError(`${fn}: logits rows have length 0; expected V >= 1 classes`);
  if (data.length === 0) throw new RangeError(`${fn}: logits is empty; expected N >= 1 rows of V = ${v}`);
  if (data.length % v !== 0) {
    throw new RangeError(`${fn}: logits has length ${data.length}, which is not a multiple of classes = ${v}; expected N×V`);
  }
  return { data, n: data.length / v, v, callerBuffer };
}

function finiteNumber(fn: string, name: string, x: unknown): number {
  if (typeof x !== "number" || Number.isNaN(x)) {
    throw new TypeError(`${fn}: options.${name} is ${describe(x)}; expected a number`);
  }
  return x;
}

/** Validate the options bag (shape-independent parts first, then the weight against V). */
export function resolveOptions(fn: string, options: CrossEntropyOptions | undefined, v: number): ResolvedOptions {
  const o = (options ?? {}) as Record<string, unknown>;
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    throw new TypeError(`${fn}: options is ${describe(options)}; expected an object`);
  }
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.has(key)) {
      throw new TypeError(`${fn}: unknown option "${key}"; expected one of ${[...OPTION_KEYS].join(", ")}`);
    }
  }
  const reduction = o.reduction ?? DEFAULTS.reduction;
  if (!REDUCTIONS.includes(reduction as Reduction)) {
    throw new RangeError(`${fn}: options.reduction is ${JSON.stringify(reduction)}; expected "mean", "sum" or "none"`);
  }
  const ignoreIndex = o.ignoreIndex ?? DEFAULTS.ignoreIndex;
  if (typeof ignoreIndex !== "number" || !Number.isInteger(ignoreIndex)) {
    throw new TypeError(`${fn}: options.ignoreIndex is ${describe(ignoreIndex)}; expected an integer`);
  }
  const labelSmoothing = finiteNumber(fn, "labelSmoothing", o.labelSmoothing ?? DEFAULTS.labelSmoothing);
  if (labelSmoothing < 0 || labelSmoothing > 1) {
    throw new RangeError(`${fn}: options.labelSmoothing is ${labelSmoothing}; expected a number in [0, 1]`);
  }
  const zLoss = finiteNumber(fn, "zLoss", o.zLoss ?? DEFAULTS.zLoss);
  if (zLoss < 0 || !Number.isFinite(zLoss)) {
    throw new RangeError(`${fn}: options.zLoss is ${zLoss}; expected a finite number >= 0`);
  }
  let softcap = 0;
  if (o.softcap !== undefined) {
    softcap = finiteNumber(fn, "softcap", o.softcap);
    if (!(softcap > 0) || !Number.isFinite(softcap)) {
      throw new RangeError(`${fn}: options.softcap is ${softcap}; expected a finite number > 0 (leave it out for no cap)`);
    }
  }
  const grad = o.grad ?? DEFAULTS.grad;
  if (typeof grad !== "boolean") throw new TypeError(`${fn}: options.grad is ${describe(grad)}; expected true or false`);
  const inplace = o.inplace ?? DEFAULTS.inplace;
  if (typeof inplace !== "boolean") throw new TypeError(`${fn}: options.inplace is ${describe(inplace)}; expected true or false`);
  if (inplace && !grad) throw new TypeError(`${fn}: options.inplace needs options.grad = true; expected grad: true with inplace: true`);
  const backend = o.backend ?? DEFAULTS.backend;
  if (typeof backend !== "string") throw new TypeError(`${fn}: options.backend is ${describe(backend)}; expected a backend name`);

  let weight: Float64Array | null = null;
  if (o.weight !== undefined) {
    const wIn = o.weight;
    if (!isFloatArray(wIn) && !Array.isArray(wIn)) {
      throw new TypeError(`${fn}: options.weight is ${describe(wIn)}; expected a Float32Array, Float64Array or number[] of length ${v}`);
    }
    const wa = wIn as ArrayLike<unknown>;
    if (wa.length !== v) throw new RangeError(`${fn}: options.weight has length ${wa.length}; expected ${v} (one per class)`);
    weight = new Float64Array(v);
    for (let j = 0; j < v; j++) {
      const x = wa[j];
      if (typeof x !== "number" || !Number.isFinite(x) || x < 0) {
        throw new RangeError(`${fn}: options.weight[${j}] is ${describe(x)}; expected a finite number >= 0`);
      }
      weight[j] = x;
    }
  }
  return {
    reduction: reduction as Reduction,
    ignoreIndex,
    labelSmoothing,
    weight,
    zLoss,
    softcap,
    grad,
    inplace,
    backend,
  };
}

/** Validate targets against (N, V): class indices in [0, V) or the ignoreIndex, or N×V probabilities. */
export function resolveTarget(
  fn: string,
  target: TargetInput,
  n: number,
  v: number,
  ignoreIndex: number,
): { target: Int32Array | null; probs: FloatArray | null } {
  if (target !== null && typeof target === "object" && !Array.isArray(target) && !ArrayBuffer.isView(target)) {
    if (!("probs" in target)) {
      throw new TypeError(`${fn}: target is an object without "probs"; expected class indices or { probs } of N×V = ${n}×${v}`);
    }
    const { data, v: pv } = flattenFloats(fn, "target.probs", target.probs, v);
    if (pv !== v) throw new RangeError(`${fn}: target.probs rows have length ${pv}; expected V = ${v}`);
    if (data.length !== n * v) {
      throw new RangeError(`${fn}: target.probs has length ${data.length}; expected N×V = ${n}×${v} = ${n * v}`);
    }
    return { target: null, probs: data };
  }
  if (!(target instanceof Int32Array) && !(target instanceof Uint32Array) && !Array.isArray(target)) {
    throw new TypeError(`${fn}: target is ${describe(target)}; expected an Int32Array, Uint32Array or number[] of length N = ${n}, or { probs }`);
  }
  const t = target as ArrayLike<unknown>;
  if (t.length !== n) {
    throw new RangeError(`${fn}: target has length ${t.length}; expected N = ${n} (logits has ${n} rows of ${v})`);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = t[i];
    if (typeof y !== "number" || !Number.isInteger(y)) {
      throw new TypeError(`${fn}: target[${i}] is ${describe(y)}; expected an integer class index in [0, ${v}) or ignoreIndex (${ignoreIndex})`);
    }
    if (y !== ignoreIndex && (y < 0 || y >= v)) {
      throw new RangeError(`${fn}: target[${i}] = ${y} is out of range; expected an integer in [0, ${v}) or ignoreIndex (${ignoreIndex})`);
    }
    out[i] = y === ignoreIndex ? -1 : y; // the kernels' convention: -1 is ignored
  }
  return { target: out, probs: null };
}

const ENGINE_BACKENDS = ["auto", "wasm", "js"] as const;
export type EngineBackendName = (typeof ENGINE_BACKENDS)[number];

/** Validate createEngine's options. `threads` stays undefined when not given (the engine picks). */
export function resolveEngineOptions(options: unknown): { backend: EngineBackendName; threads: number | undefined } {
  const fn = "createEngine";
  const o = (options ?? {}) as Record<string, unknown>;
  if (typeof o !== "object" || Array.isArray(o)) throw new TypeError(`${fn}: options is ${describe(options)}; expected an object`);
  for (const key of Object.keys(o)) {
    if (key !== "backend" && key !== "threads") throw new TypeError(`${fn}: unknown option "${key}"; expected backend, threads`);
  }
  const backend = o.backend ?? "auto";
  if (!ENGINE_BACKENDS.includes(backend as EngineBackendName)) {
    throw new RangeError(`${fn}: options.backend is ${JSON.stringify(backend)}; expected "auto", "wasm" or "js"`);
  }
  const threads = o.threads;
  if (threads !== undefined && (typeof threads !== "number" || !Number.isInteger(threads) || threads < 1 || threads > 64)) {
    throw new RangeError(`${fn}: options.threads is ${describe(threads)}; expected an integer from 1 to 64`);
  }
  return { backend: backend as EngineBackendName, threads: threads as number | undefined };
}

/** Validate engine.alloc's element count. */
export function checkAllocCount(n: unknown): number {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 2 ** 30) {
    throw new RangeError(`engine.alloc: n is ${describe(n)}; expected an integer count of float32 elements from 0 to 2^30`);
  }
  return n;
}

/** The error for engine.free given something that engine.alloc did not return (or already freed). */
export function notEngineBlock(x: unknown): RangeError {
  return new RangeError(`engine.free: buffer is ${describe(x)}, not a live block from this engine's alloc; expected the Float32Array that engine.alloc returned (or a result's grad), freed once`);
}
