/**
 * Validation and normalisation, once per call, for every entry point: the arguments are checked
 * against the option table (options.ts) and the shapes, and resolved into what the kernels take:
 * flat float arrays, targets with the ignoreIndex mapped to -1, and one LossSpec. Each error names
 * the function, the argument, the offending index or value, and what was expected. Only the
 * options' own keys are read (inherited ones are ignored, on every path). Nothing here modifies
 * the caller's arrays.
 */
import { lmOnly } from "../backends/common.js";
import type {
  CrossEntropyArgs, DistillationSpec, FloatArray, GpuBufferLike, GpuDeviceLike, GpuDtype, GpuInput, GpuLinearArgs, HostHalf, LossSpec, MergedStats, SliceStats, VocabSlice,
} from "../backends/types.js";
import {
  describe,
  distillationReduction,
  OPTIONS,
  type LogitsInput,
  type MatrixInput,
  type OptionCall,
  type OptionName,
  type TargetInput,
  type EngineLogitsInput,
  type EngineTargetInput,
} from "./options.js";

export { describe };

function isFloatArray(x: unknown): x is FloatArray {
  return x instanceof Float32Array || x instanceof Float64Array;
}

/** The checked value of an option, and its default. */
type OptionValue<K extends OptionName> = ReturnType<(typeof OPTIONS)[K]["check"]>;
type OptionDefault<K extends OptionName> = (typeof OPTIONS)[K]["default"];
/** The option table seen row by row, so that a row's check returns its own option's type. */
type OptionRows = { readonly [K in OptionName]: { readonly default: OptionDefault<K>; check(fn: string, name: string, x: unknown): OptionValue<K> } };
const ROWS: OptionRows = OPTIONS;

/** The option names each call takes, in the table's order: built on a call's first use, then kept (every call checks its keys against them). */
const allowedByCall = new Map<OptionCall, readonly string[]>();
function allowedOptions(call: OptionCall): readonly string[] {
  let names = allowedByCall.get(call);
  if (names === undefined) {
    names = Object.entries(OPTIONS)
      .filter(([, row]) => row.calls.some((c) => c === call))
      .map(([name]) => name);
    allowedByCall.set(call, names);
  }
  return names;
}

/** The options a call was given, checked against the table: own keys only, unknown keys refused. */
export class Options {
  private readonly own = new Map<string, unknown>();

  constructor(
    readonly fn: string,
    call: OptionCall,
    options: unknown,
  ) {
    if (options === undefined) return;
    if (typeof options !== "object" || options === null || Array.isArray(options) || ArrayBuffer.isView(options)) {
      const shown = typeof options === "string" ? `the string ${JSON.stringify(options)}` : describe(options);
      throw new TypeError(`${fn}: options is ${shown}; expected an object such as { reduction: "mean" }`);
    }
    const allowed = allowedOptions(call);
    for (const key of Object.keys(options)) {
      if (!allowed.includes(key)) {
        if (call === "linearCrossEntropy" && key === "weight") {
          throw new TypeError(`${fn}: unknown option "weight"; per-class weights are options.classWeight here (the head's weight is the second argument)`);
        }
        if (call === "perplexity" && (key === "reduction" || key === "grad" || key === "inplace")) {
          throw new TypeError(`${fn}: option "${key}" does not apply; perplexity is exp of the mean loss`);
        }
        throw new TypeError(`${fn}: unknown option "${key}"; expected one of ${allowed.join(", ")}`);
      }
      const value: unknown = Reflect.get(options, key);
      if (value !== undefined) this.own.set(key, value);
    }
  }

  /** True when the option was given (and not undefined). */
  has(name: OptionName): boolean {
    return this.own.has(name);
  }

  /** The option's raw value, or undefined. */
  raw(name: OptionName): unknown {
    return this.own.get(name);
  }

  /** The option's checked value, or its default. */
  get<K extends OptionName>(name: K): OptionValue<K> | OptionDefault<K> {
    const row: OptionRows[K] = ROWS[name];
    if (!this.own.has(name)) return row.default;
    return row.check(this.fn, name, this.own.get(name));
  }
}

function checkNumberArray(fn: string, name: string, rows: readonly unknown[], out: Float64Array): void {
  for (let j = 0; j < rows.length; j++) {
    const x = rows[j];
    if (typeof x !== "number") throw new TypeError(`${fn}: ${name}[${j}] is ${describe(x)}; expected a number`);
    out[j] = x;
  }
}

const isRows = (x: unknown): boolean => Array.isArray(x) && x.length > 0 && Array.isArray(x[0]);

/**
 * Flatten a float input of N×V (logits, probabilities, hidden, weight) into a typed array.
 * `v` may be undefined for rows (it is then the first row's length).
 */
function flattenFloats(fn: string, name: string, x: unknown, v: number | undefined): { data: FloatArray; v: number; rows?: number; callerBuffer: boolean } {
  const needV = (): number => {
    if (v === undefined) throw new TypeError(`${fn}: options.classes is required when ${name} is a flat array; expected the number of classes V`);
    return v;
  };
  if (isFloatArray(x)) return { data: x, v: needV(), callerBuffer: true };
  refuseGpu(fn, name, x);
  if (!Array.isArray(x)) {
    throw new TypeError(`${fn}: ${name} is ${describe(x)}; expected a Float32Array, a Float64Array, a number[] or a number[][]`);
  }
  if (isRows(x)) {
    const first: unknown = x[0];
    const width = Array.isArray(first) ? first.length : 0;
    if (v !== undefined && width !== v) throw new RangeError(`${fn}: ${name}[0] has length ${width}; expected options.classes = ${v}`);
    const out = new Float64Array(x.length * width);
    for (let i = 0; i < x.length; i++) {
      const r: unknown = x[i];
      if (!Array.isArray(r)) throw new TypeError(`${fn}: ${name}[${i}] is ${describe(r)}; expected a row of ${width} numbers`);
      if (r.length !== width) throw new RangeError(`${fn}: ${name}[${i}] has length ${r.length}; expected ${width} (the length of row 0)`);
      checkNumberArray(fn, `${name}[${i}]`, r, out.subarray(i * width, (i + 1) * width));
    }
    return { data: out, v: width, rows: x.length, callerBuffer: false };
  }
  const out = new Float64Array(x.length);
  checkNumberArray(fn, name, x, out);
  return { data: out, v: needV(), callerBuffer: false };
}

/** GPU buffers and 16-bit floats are taken by a webgpu engine's crossEntropy only: refuse them elsewhere, with one line. */
function refuseGpu(fn: string, name: string, x: unknown): void {
  if (isGpuLogits(x)) {
    throw new TypeError(
      `${fn}: ${name} is a GPU buffer; only an engine on the webgpu backend takes GPU buffers (createEngine({ backend: "webgpu" }): crossEntropy, submitCrossEntropy, submitLinearCrossEntropy); expected a Float32Array, a Float64Array, a number[] or a number[][] here`,
    );
  }
  if (isHalfArray(x)) {
    throw new TypeError(`${fn}: ${name} is a ${x.constructor.name} of 16-bit floats; only engine.crossEntropy on an engine on the webgpu backend takes them (createEngine({ backend: "webgpu" })); expected a Float32Array here (widen them)`);
  }
}

/** Logits as one flat float array with its shape (N, V). */
interface FlatLogits {
  data: FloatArray;
  n: number;
  v: number;
  /** True when `data` is the caller's own typed array (not a converted copy). */
  callerBuffer: boolean;
}

/** Validate the logits against options.classes, returning the flat logits and (N, V). */
function resolveLogits(fn: string, logits: LogitsInput, classes: number | undefined, name = "logits"): FlatLogits {
  const { data, v, callerBuffer } = flattenFloats(fn, name, logits, classes);
  if (v < 1) throw new RangeError(`${fn}: ${name} rows have length 0; expected V >= 1 classes`);
  if (data.length === 0) throw new RangeError(`${fn}: ${name} is empty; expected N >= 1 rows of V = ${v}`);
  if (data.length % v !== 0) {
    throw new RangeError(`${fn}: ${name} has length ${data.length}, which is not a multiple of classes = ${v}; expected N×V`);
  }
  return { data, n: data.length / v, v, callerBuffer };
}

/** A vector option of length v (weight, classWeight, bias), checked, as float64. */
function vectorOption(fn: string, name: string, x: unknown, v: number, nonNegative: boolean): Float64Array {
  if (!isFloatArray(x) && !Array.isArray(x)) {
    throw new TypeError(`${fn}: options.${name} is ${describe(x)}; expected a Float32Array, Float64Array or number[] of length V = ${v}`);
  }
  if (x.length !== v) {
    const expected = name === "weight" ? `${v} (one per class)` : `V = ${v} (one per row of weight)`;
    throw new RangeError(`${fn}: options.${name} has length ${x.length}; expected ${expected}`);
  }
  const out = new Float64Array(v);
  for (let j = 0; j < v; j++) {
    const e: unknown = x[j];
    if (typeof e !== "number" || (!nonNegative && Number.isNaN(e))) throw new TypeError(`${fn}: options.${name}[${j}] is ${describe(e)}; expected a number`);
    if (nonNegative && !(Number.isFinite(e) && e >= 0)) throw new RangeError(`${fn}: options.${name}[${j}] is ${e}; expected a finite number >= 0`);
    out[j] = e;
  }
  return out;
}

/** The denominator, checked against the reduction it divides. */
function resolveDenominator(o: Options): number | null {
  const d = o.get("denominator");
  if (d === undefined) return null;
  const reduction = o.get("reduction");
  if (reduction !== "mean") {
    throw new TypeError(`${o.fn}: options.denominator is given with reduction "${reduction}"; expected reduction "mean" (the denominator divides the summed loss)`);
  }
  return d;
}

/** The LossSpec of a call with V classes; `weightName` is the class-weight option's public name. */
function resolveSpec(o: Options, v: number, weightName: "weight" | "classWeight"): LossSpec {
  const w = o.raw(weightName);
  return {
    reduction: o.get("reduction"),
    labelSmoothing: o.get("labelSmoothing"),
    classWeight: w === undefined ? null : vectorOption(o.fn, weightName, w, v, true),
    zLoss: o.get("zLoss"),
    softcap: o.get("softcap") ?? 0,
    temperature: o.get("temperature"),
    denominator: resolveDenominator(o),
    argmax: o.get("argmax"),
    accuracy: o.get("accuracy"),
    entropy: o.get("entropy"),
  };
}

/**
 * Validate targets against (N, V): class indices in [0, V) or the ignoreIndex (mapped to -1, the
 * kernels' convention), or N×V probabilities, each finite and >= 0.
 */
function resolveTarget(fn: string, target: TargetInput, n: number, v: number, ignoreIndex: number): { target: Int32Array | null; probs: FloatArray | null } {
  if (target !== null && typeof target === "object" && !Array.isArray(target) && !ArrayBuffer.isView(target)) {
    if (!("probs" in target)) {
      throw new TypeError(`${fn}: target is an object without "probs"; expected class indices or { probs } of N×V = ${n}×${v}`);
    }
    const { data, v: pv } = flattenFloats(fn, "target.probs", target.probs, v);
    if (pv !== v) throw new RangeError(`${fn}: target.probs rows have length ${pv}; expected V = ${v}`);
    if (data.length !== n * v) throw new RangeError(`${fn}: target.probs has length ${data.length}; expected N×V = ${n}×${v} = ${n * v}`);
    for (let k = 0; k < data.length; k++) {
      const p = data[k]!;
      if (!(p >= 0 && p < Infinity)) {
        throw new RangeError(`${fn}: target.probs[${k}] (row ${Math.floor(k / v)}, class ${k % v}) is ${p}; expected a finite probability >= 0`);
      }
    }
    return { target: null, probs: data };
  }
  if (!(target instanceof Int32Array) && !(target instanceof Uint32Array) && !Array.isArray(target)) {
    throw new TypeError(`${fn}: target is ${describe(target)}; expected an Int32Array, Uint32Array or number[] of length N = ${n}, or { probs }`);
  }
  if (target.length !== n) throw new RangeError(`${fn}: target has length ${target.length}; expected N = ${n} (logits has ${n} rows of ${v})`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y: unknown = target[i];
    if (typeof y !== "number" || !Number.isInteger(y)) {
      throw new TypeError(`${fn}: target[${i}] is ${describe(y)}; expected an integer class index in [0, ${v}) or ignoreIndex (${ignoreIndex})`);
    }
    if (y !== ignoreIndex && (y < 0 || y >= v)) {
      throw new RangeError(`${fn}: target[${i}] = ${y} is out of range; expected an integer in [0, ${v}) or ignoreIndex (${ignoreIndex})`);
    }
    out[i] = y === ignoreIndex ? -1 : y;
  }
  return { target: out, probs: null };
}

/** options.accuracy compares the argmax with a class: index targets only. */
function checkAccuracyTarget(fn: string, spec: LossSpec, probs: FloatArray | null): void {
  if (spec.accuracy && probs !== null) {
    throw new TypeError(`${fn}: options.accuracy needs class-index targets; got probability targets ({ probs }), which have no class to compare the argmax with`);
  }
}

/** A resolved crossEntropy call: the kernel's inputs and spec, and what the api does around it. */
export interface ResolvedCrossEntropy {
  logits: FloatArray;
  n: number;
  v: number;
  target: Int32Array | null;
  probs: FloatArray | null;
  spec: LossSpec;
  grad: boolean;
  inplace: boolean;
  backend: string;
}

/** options.grad and options.inplace, checked together: inplace writes the gradient, so it needs one. */
function gradFlags(fn: string, o: Options): { grad: boolean; inplace: boolean } {
  const grad = o.get("grad");
  const inplace = o.get("inplace");
  if (inplace && !grad) throw new TypeError(`${fn}: options.inplace needs options.grad = true; expected grad: true with inplace: true`);
  return { grad, inplace };
}

/** Validate a crossEntropy call (also softmax's, with target null: every row ignored; perplexity's; the engine's). */
export function resolveCrossEntropy(fn: string, call: OptionCall, logits: LogitsInput, target: TargetInput | null, options: unknown): ResolvedCrossEntropy {
  const o = new Options(fn, call, options);
  const dtype = o.get("dtype");
  if (dtype !== undefined && dtype !== "float32") {
    throw new TypeError(`${fn}: options.dtype is "${dtype}"; 16-bit logits run on an engine on the webgpu backend only; expected "float32" (or no dtype) here`);
  }
  const flat = resolveLogits(fn, logits, o.get("classes"));
  const spec = resolveSpec(o, flat.v, "weight");
  const { grad, inplace } = gradFlags(fn, o);
  if (inplace && !flat.callerBuffer) throw new TypeError(`${fn}: options.inplace needs logits as a Float32Array or Float64Array; got a plain array`);
  const backend = o.get("backend");
  const t = target === null ? { target: new Int32Array(flat.n).fill(-1), probs: null } : resolveTarget(fn, target, flat.n, flat.v, o.get("ignoreIndex"));
  checkAccuracyTarget(fn, spec, t.probs);
  return { logits: flat.data, n: flat.n, v: flat.v, ...t, spec, grad, inplace, backend };
}

/** A GPUBuffer as far as can be told: size, usage and mapAsync (no typed array has them). */
export function isGpuBuffer(x: unknown): x is GpuBufferLike {
  return typeof x === "object" && x !== null && !ArrayBuffer.isView(x) && typeof Reflect.get(x, "size") === "number" && typeof Reflect.get(x, "usage") === "number" &&
    typeof Reflect.get(x, "mapAsync") === "function";
}

/** A GPUBuffer, or a view `{ buffer: GPUBuffer, ... }` of one. */
export function isGpuLogits(x: unknown): boolean {
  return isGpuBuffer(x) || (typeof x === "object" && x !== null && !ArrayBuffer.isView(x) && !Array.isArray(x) && isGpuBuffer(Reflect.get(x, "buffer")));
}

/** 16-bit float bits on the host: a Uint16Array, or a Float16Array where the runtime has one. */
export function isHalfArray(x: unknown): x is Uint16Array | ArrayBufferView {
  return x instanceof Uint16Array || (ArrayBuffer.isView(x) && x.constructor.name === "Float16Array");
}

/** True when an engine call must take the webgpu path: GPU logits or probabilities, or 16-bit logits. */
export function needsGpuPath(logits: unknown, target: unknown): boolean {
  const probs: unknown = typeof target === "object" && target !== null && !ArrayBuffer.isView(target) && !Array.isArray(target) ? Reflect.get(target, "probs") : undefined;
  return isGpuLogits(logits) || isHalfArray(logits) || isGpuLogits(probs);
}

const GPU_STORAGE = 0x80; // GPUBufferUsage.STORAGE, fixed by the WebGPU spec

/** A GPU buffer or view, checked: `length` elements of `dtype` from byte `offset`, a multiple of 4, inside the buffer, with STORAGE usage. */
function gpuInput(fn: string, name: string, x: unknown, dtypeOption: GpuDtype | undefined): GpuInput {
  const buffer: unknown = isGpuBuffer(x) ? x : typeof x === "object" && x !== null ? Reflect.get(x, "buffer") : undefined;
  if (!isGpuBuffer(buffer)) throw new TypeError(`${fn}: ${name} is ${describe(x)}; expected a GPUBuffer or { buffer: GPUBuffer, offset?, length?, dtype? }`);
  const view = x === buffer ? undefined : x;
  const field = (k: string): unknown => (typeof view === "object" && view !== null ? Reflect.get(view, k) : undefined);
  const offset = field("offset") ?? 0;
  if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0 || offset % 4 !== 0) {
    throw new RangeError(`${fn}: ${name}.offset is ${describe(offset)}; expected a byte offset >= 0, a multiple of 4`);
  }
  const own = field("dtype");
  if (own !== undefined && own !== "float32" && own !== "float16" && own !== "bfloat16") {
    throw new RangeError(`${fn}: ${name}.dtype is ${JSON.stringify(own)}; expected "float32", "float16" or "bfloat16"`);
  }
  if (own !== undefined && dtypeOption !== undefined && own !== dtypeOption) {
    throw new TypeError(`${fn}: ${name}.dtype is "${own}" and options.dtype "${dtypeOption}"; expected one of them, or both the same`);
  }
  const dtype: GpuDtype = own ?? dtypeOption ?? "float32";
  const eb = dtype === "float32" ? 4 : 2;
  if ((buffer.usage & GPU_STORAGE) === 0) {
    throw new TypeError(`${fn}: ${name}'s buffer has usage 0x${buffer.usage.toString(16)} without GPUBufferUsage.STORAGE; expected a buffer created with STORAGE (the kernel binds it as a storage buffer)`);
  }
  const mapState: unknown = Reflect.get(buffer, "mapState");
  if (mapState !== undefined && mapState !== "unmapped") throw new TypeError(`${fn}: ${name}'s buffer is ${String(mapState)}; expected an unmapped buffer`);
  const given = field("length");
  const rest = (buffer.size - offset) / eb;
  const length: unknown = given ?? rest;
  if (given === undefined) {
    if (!Number.isInteger(rest) || rest < 0) {
      throw new RangeError(`${fn}: ${name}'s buffer has ${buffer.size - offset} bytes after offset ${offset}, not a whole number of ${dtype} values; expected ${name}.length`);
    }
  }
  if (typeof length !== "number" || !Number.isInteger(length) || length < 1) throw new RangeError(`${fn}: ${name}.length is ${describe(length)}; expected a number of elements >= 1`);
  if (offset + length * eb > buffer.size) {
    throw new RangeError(`${fn}: ${name} holds ${length} ${dtype} values from byte ${offset}, ${offset + length * eb} bytes, past the buffer's size ${buffer.size}; expected them inside the buffer`);
  }
  return { buffer, offset, length, dtype };
}

/** A resolved engine call on GPU or 16-bit logits (the webgpu engine's crossEntropyGpu). */
export interface ResolvedGpuCrossEntropy {
  logits: GpuInput | HostHalf;
  n: number;
  v: number;
  target: Int32Array | null;
  probs: FloatArray | GpuInput | null;
  spec: LossSpec;
  /** Where the gradient goes: none; a new buffer (or array); over the logits (inplace). */
  grad: "none" | "new" | "inplace";
}

/**
 * Validate an engine call whose logits are a GPU buffer (or view) or 16-bit host floats, or whose
 * probability targets are on the GPU. GPU contents are not read: their values (NaN, probabilities
 * >= 0) are not checked. Calls the GPU kernel cannot run are refused (never read back).
 */
export function resolveGpuCrossEntropy(fn: string, logits: EngineLogitsInput, target: EngineTargetInput, options: unknown): ResolvedGpuCrossEntropy {
  const o = new Options(fn, "crossEntropy", options);
  const v = o.get("classes");
  const dtypeOption = o.get("dtype");
  let x: GpuInput | HostHalf;
  let length: number;
  if (isHalfArray(logits)) {
    const f16 = !(logits instanceof Uint16Array);
    const dtype = f16 ? "float16" : dtypeOption;
    if (dtype === undefined || dtype === "float32") {
      throw new TypeError(`${fn}: logits is a Uint16Array; expected options.dtype "float16" or "bfloat16" saying what its 16-bit values are`);
    }
    if (f16 && dtypeOption !== undefined && dtypeOption !== "float16") throw new TypeError(`${fn}: logits is a Float16Array and options.dtype "${dtypeOption}"; expected "float16" or no dtype`);
    const bits = new Uint16Array(logits.buffer, logits.byteOffset, logits.byteLength / 2);
    x = { host: bits, dtype };
    length = bits.length;
  } else if (isGpuLogits(logits)) {
    x = gpuInput(fn, "logits", logits, dtypeOption);
    length = x.length;
  } else {
    throw new TypeError(`${fn}: target.probs is a GPU buffer with logits ${describe(logits)}; expected the logits on the GPU too`);
  }
  if (v === undefined) throw new TypeError(`${fn}: options.classes is required with GPU or 16-bit logits; expected the number of classes V`);
  if (length % v !== 0) throw new RangeError(`${fn}: logits has ${length} values, which is not a multiple of classes = ${v}; expected N×V`);
  const n = length / v;
  const spec = resolveSpec(o, v, "weight");
  if (lmOnly(spec)) {
    throw new TypeError(`${fn}: options temperature, argmax, accuracy and entropy are not computed by the GPU kernel; expected none of them with GPU or 16-bit logits (read the logits back yourself to run them on the CPU)`);
  }
  const { grad, inplace } = gradFlags(fn, o);
  const probsIn: unknown = typeof target === "object" && target !== null && !Array.isArray(target) && !ArrayBuffer.isView(target) ? Reflect.get(target, "probs") : undefined;
  let t: { target: Int32Array | null; probs: FloatArray | GpuInput | null };
  if (isGpuLogits(probsIn)) {
    const p = gpuInput(fn, "target.probs", probsIn, undefined);
    if (p.dtype !== "float32") throw new TypeError(`${fn}: target.probs has dtype "${p.dtype}"; expected float32 probabilities`);
    if (p.length !== n * v) throw new RangeError(`${fn}: target.probs has ${p.length} values; expected N×V = ${n}×${v} = ${n * v}`);
    t = { target: null, probs: p };
  } else {
    if (isGpuBuffer(target)) throw new TypeError(`${fn}: target is a GPU buffer; expected the class indices on the host (an Int32Array of N = ${n}), or { probs }`);
    t = resolveTarget(fn, target as TargetInput, n, v, o.get("ignoreIndex"));
  }
  return { logits: x, n, v, ...t, spec, grad: !grad ? "none" : inplace ? "inplace" : "new" };
}

/** A resolved linearCrossEntropy call. `bias` is a copy in hidden's element type. */
export interface ResolvedLinear {
  hidden: FloatArray;
  weight: FloatArray;
  bias: FloatArray | null;
  n: number;
  d: number;
  v: number;
  target: Int32Array | null;
  probs: FloatArray | null;
  spec: LossSpec;
  chunkRows: number;
  gradFilter: number;
  grad: boolean;
  backend: string;
}

/** A matrix argument as flat data, with its row count and width when given as rows. */
function flatMatrix(fn: string, name: string, x: unknown): { data: FloatArray; rows?: number; width?: number } {
  refuseGpu(fn, name, x);
  if (!isFloatArray(x) && !Array.isArray(x)) {
    throw new TypeError(`${fn}: ${name} is ${describe(x)}; expected a Float32Array, a Float64Array, a number[] or a number[][]`);
  }
  if (isRows(x)) {
    const { data, v, rows } = flattenFloats(fn, name, x, undefined);
    return { data, rows, width: v };
  }
  return { data: flattenFloats(fn, name, x, 1).data }; // flat: the width only matters for rows
}

/**
 * Validate a linearCrossEntropy call and derive (N, D, V). Shapes: hidden (N, D), weight (V, D),
 * bias (V); N is the target's length (or the rows of probabilities or hidden), D = hidden.length / N,
 * V = weight.length / D.
 */
export function resolveLinear(fn: string, hiddenIn: MatrixInput, weightIn: MatrixInput, targetIn: TargetInput, options: unknown): ResolvedLinear {
  const o = new Options(fn, "linearCrossEntropy", options);
  let n = linearRows(fn, targetIn);
  const h = flatMatrix(fn, "hidden", hiddenIn);
  const w = flatMatrix(fn, "weight", weightIn);
  if (h.rows !== undefined && n !== undefined && h.rows !== n) {
    throw new RangeError(`${fn}: hidden has ${h.rows} rows; expected N = ${n} (the target's length)`);
  }
  n ??= h.rows;
  const dims = linearDims(fn, h.data.length, w.data.length, n, h.width, w.width, o.get("classes"));
  const { d, v } = dims;

  const spec = resolveSpec(o, v, "classWeight");
  const f32 = h.data instanceof Float32Array;
  const asHidden = (x: ArrayLike<number>): FloatArray => (f32 ? Float32Array.from(x) : Float64Array.from(x));
  const biasIn = o.raw("bias");
  const bias = biasIn === undefined ? null : asHidden(vectorOption(fn, "bias", biasIn, v, false));
  const weight = w.data instanceof Float32Array === f32 ? w.data : asHidden(w.data);
  const chunkRows = linearChunkRows(fn, o, dims.n, v, f32 ? 4 : 8);
  const t = resolveTarget(fn, targetIn, dims.n, v, o.get("ignoreIndex"));
  checkAccuracyTarget(fn, spec, t.probs);
  return { hidden: h.data, weight, bias, n: dims.n, d, v, ...t, spec, chunkRows, gradFilter: o.get("gradFilter"), grad: o.get("grad"), backend: o.get("backend") };
}

/** N as a linear head's target gives it: the length of class indices, the rows of { probs } given as rows, else undefined. */
function linearRows(fn: string, targetIn: unknown): number | undefined {
  const isProbs = targetIn !== null && typeof targetIn === "object" && !Array.isArray(targetIn) && !ArrayBuffer.isView(targetIn);
  if (isProbs) {
    const probs: unknown = Reflect.get(targetIn, "probs");
    return Array.isArray(probs) && isRows(probs) ? probs.length : undefined;
  }
  if (!(targetIn instanceof Int32Array) && !(targetIn instanceof Uint32Array) && !Array.isArray(targetIn)) {
    throw new TypeError(`${fn}: target is ${describe(targetIn)}; expected an Int32Array, Uint32Array or number[] of length N, or { probs }`);
  }
  if (targetIn.length === 0) throw new RangeError(`${fn}: target is empty; expected N >= 1 tokens`);
  return targetIn.length;
}

/**
 * (N, D, V) of a linear head from the lengths of hidden (N×D) and weight (V×D): D from the row
 * widths (`hWidth`, `wWidth`: rows given) when known, else from N, else from V = options.classes;
 * checked against each other.
 */
function linearDims(
  fn: string, hLen: number, wLen: number, n: number | undefined, hWidth: number | undefined, wWidth: number | undefined, classes: number | undefined,
): { n: number; d: number; v: number } {
  const width = hWidth ?? wWidth;
  if (hLen === 0) throw new RangeError(`${fn}: hidden is empty; expected N×D values`);
  if (wLen === 0) throw new RangeError(`${fn}: weight is empty; expected V×D values`);
  let d: number;
  if (width !== undefined) d = width;
  else if (n !== undefined) {
    if (hLen % n !== 0) throw new RangeError(`${fn}: hidden has length ${hLen}, which is not a multiple of N = ${n} (the target's length); expected N×D`);
    d = hLen / n;
  } else if (classes !== undefined) {
    if (wLen % classes !== 0) throw new RangeError(`${fn}: weight has length ${wLen}, which is not a multiple of options.classes = ${classes}; expected V×D`);
    d = wLen / classes;
  } else {
    throw new TypeError(`${fn}: options.classes is required with flat probability targets and flat hidden and weight; expected the number of classes V`);
  }
  if (d < 1) throw new RangeError(`${fn}: hidden rows have length 0; expected D >= 1`);
  if (wWidth !== undefined && wWidth !== d) throw new RangeError(`${fn}: weight rows have length ${wWidth}; expected D = ${d} (hidden's row length)`);
  if (hLen % d !== 0) throw new RangeError(`${fn}: hidden has length ${hLen}, which is not a multiple of D = ${d} (weight's row length); expected N×D`);
  if (n !== undefined && hLen !== n * d) throw new RangeError(`${fn}: hidden has length ${hLen}; expected N×D = ${n}×${d} = ${n * d}`);
  if (wLen % d !== 0) throw new RangeError(`${fn}: weight has length ${wLen}, which is not a multiple of D = ${d} (hidden's row length); expected V×D`);
  const v = wLen / d;
  if (classes !== undefined && classes !== v) throw new RangeError(`${fn}: weight has ${v} rows of D = ${d}; expected options.classes = ${classes} rows`);
  return { n: hLen / d, d, v };
}

/** Rows of logits per chunk: options.chunkSize, or what options.memoryBudget holds of V elements of `bytes` bytes (at least 1, at most N). */
function linearChunkRows(fn: string, o: Options, n: number, v: number, bytes: number): number {
  if (o.has("chunkSize") && o.has("memoryBudget")) {
    throw new TypeError(`${fn}: options.chunkSize and options.memoryBudget are both given; expected at most one of them`);
  }
  const chunkSize = o.get("chunkSize");
  return chunkSize !== undefined ? Math.min(chunkSize, n) : Math.max(1, Math.min(n, Math.floor(o.get("memoryBudget") / (v * bytes))));
}

/** A float32 operand of a GPU submission: host values as they are, or a GPU buffer or view, checked. */
function gpuOperand(fn: string, name: string, x: unknown): Float32Array | GpuInput {
  if (x instanceof Float32Array) return x;
  if (!isGpuLogits(x)) throw new TypeError(`${fn}: ${name} is ${describe(x)}; expected a GPUBuffer, a view { buffer, offset?, length? } of one, or a Float32Array`);
  const g = gpuInput(fn, name, x, undefined);
  if (g.dtype !== "float32") throw new TypeError(`${fn}: ${name}.dtype is "${g.dtype}"; expected "float32" (the GPU linear head reads float32)`);
  return g;
}

const LM_OUTPUTS = ["accuracy", "argmax", "entropy"] as const;

/**
 * Validate a synchronous linear head submission (a webgpu engine's submitLinearCrossEntropy):
 * hidden, weight, options.bias and options.upstream are float32 GPU buffers or views (or host
 * Float32Arrays, uploaded), their contents not read; the rest as linearCrossEntropy. The LM
 * outputs, which the GPU linear head does not compute, are refused.
 */
export function resolveGpuLinear(fn: string, hiddenIn: unknown, weightIn: unknown, targetIn: TargetInput, options: unknown): GpuLinearArgs {
  // bias and upstream are GPU operands here, checked below; the option table checks the rest.
  let rest = options;
  let biasIn: unknown;
  let upIn: unknown;
  if (typeof options === "object" && options !== null && !Array.isArray(options) && !ArrayBuffer.isView(options)) {
    ({ bias: biasIn, upstream: upIn, ...rest } = options as Record<string, unknown>);
  }
  const o = new Options(fn, "linearCrossEntropy", rest);
  const hidden = gpuOperand(fn, "hidden", hiddenIn);
  const weight = gpuOperand(fn, "weight", weightIn);
  const { n, d, v } = linearDims(fn, hidden.length, weight.length, linearRows(fn, targetIn), undefined, undefined, o.get("classes"));
  const spec = resolveSpec(o, v, "classWeight");
  const asked = LM_OUTPUTS.filter((k) => o.get(k));
  if (asked.length > 0) {
    throw new TypeError(`${fn}: options.${asked.join(", options.")} ${asked.length > 1 ? "are" : "is"} not computed by the GPU linear head; expected none of ${LM_OUTPUTS.join(", ")} with a GPU submission`);
  }
  const bias = biasIn === undefined ? null : gpuOperand(fn, "options.bias", biasIn);
  if (bias !== null && bias.length !== v) throw new RangeError(`${fn}: options.bias has ${bias.length} values; expected V = ${v} (one per row of weight)`);
  const grad = o.get("grad");
  const upstream = upIn === undefined ? null : gpuOperand(fn, "options.upstream", upIn);
  if (upstream !== null) {
    if (spec.reduction !== "none" || !grad) {
      throw new TypeError(`${fn}: options.upstream is given with reduction "${spec.reduction}"${grad ? "" : " and no grad"}; expected reduction "none" and grad: true (it scales each per-token loss's gradient)`);
    }
    if (upstream.length !== n) throw new RangeError(`${fn}: options.upstream has ${upstream.length} values; expected N = ${n} (one per row of hidden)`);
  }
  const t = resolveTarget(fn, targetIn, n, v, o.get("ignoreIndex"));
  return { hidden, weight, bias, upstream, n, d, v, ...t, spec, chunkRows: linearChunkRows(fn, o, n, v, 4), grad };
}

/** options.classes of a slice call: required (the full vocabulary V). */
function sliceClasses(o: Options): number {
  const v = o.get("classes");
  if (v === undefined) throw new TypeError(`${o.fn}: options.classes is required; expected the full vocabulary size V`);
  return v;
}

/**
 * Validate a vocabulary shard's call (sliceStats, sliceGrad): logits (N, v1 − v0) holding the
 * classes [v0, v1) of V, index targets over the full V or { probs } of the shard's columns, and
 * the loss options over the full V. Returns the kernel's arguments and slice.
 */
export function resolveSlice(fn: string, logits: LogitsInput, target: TargetInput, options: unknown): { args: CrossEntropyArgs; slice: VocabSlice } {
  const o = new Options(fn, "slices", options);
  const v = sliceClasses(o);
  const v0 = o.get("v0");
  const v1 = o.get("v1");
  if (v0 === undefined || v1 === undefined) throw new TypeError(`${fn}: options.${v0 === undefined ? "v0" : "v1"} is required; expected the shard's classes [v0, v1) of V = ${v}`);
  if (!(v0 < v1 && v1 <= v)) throw new RangeError(`${fn}: options.v0 = ${v0}, options.v1 = ${v1}; expected 0 <= v0 < v1 <= classes = ${v}`);
  const width = v1 - v0;
  const flat = flattenFloats(fn, "logits", logits, isRows(logits) ? undefined : width);
  if (flat.v !== width) throw new RangeError(`${fn}: logits rows have length ${flat.v}; expected v1 − v0 = ${width} (the shard's classes)`);
  if (flat.data.length === 0 || flat.data.length % width !== 0) {
    throw new RangeError(`${fn}: logits has length ${flat.data.length}; expected N×(v1 − v0) with N >= 1 and v1 − v0 = ${width}`);
  }
  const n = flat.data.length / width;
  const spec = resolveSpec(o, v, "weight");
  const isProbs = target !== null && typeof target === "object" && !Array.isArray(target) && !ArrayBuffer.isView(target);
  // Class indices index the full vocabulary; probabilities are the shard's columns, as the logits.
  const t = resolveTarget(fn, target, n, isProbs ? width : v, o.get("ignoreIndex"));
  return { args: { logits: flat.data, n, v, ...t, spec, gradOut: null }, slice: { v0, v1, col0: v0, stride: width } };
}

/** A float64 field of N values (statistics): a Float64Array or number[], checked, as a Float64Array. */
function rowField(fn: string, name: string, x: unknown, n: number): Float64Array {
  if (!(x instanceof Float64Array) && !Array.isArray(x)) throw new TypeError(`${fn}: ${name} is ${describe(x)}; expected a Float64Array or number[] of length N = ${n}`);
  if (x.length !== n) throw new RangeError(`${fn}: ${name} has length ${x.length}; expected N = ${n}`);
  if (x instanceof Float64Array) return x;
  const out = new Float64Array(n);
  checkNumberArray(fn, name, x, out);
  return out;
}

const STAT_FIELDS = ["max", "sumExp", "targetLogit", "weightedSum", "targetWeight"] as const;

/**
 * Validate mergeSliceStats: `parts` are sliceStats results whose classes tile [0, V) in order;
 * `target` the class indices (over the full V), or null for probability targets.
 */
export function resolveMerge(fn: string, parts: unknown, target: TargetInput | null, options: unknown): { args: CrossEntropyArgs; parts: SliceStats[] } {
  const o = new Options(fn, "slices", options);
  const v = sliceClasses(o);
  if (!Array.isArray(parts) || parts.length === 0) throw new TypeError(`${fn}: parts is ${describe(parts)}; expected a non-empty array of sliceStats results`);
  if (target !== null && !(target instanceof Int32Array) && !(target instanceof Uint32Array) && !Array.isArray(target)) {
    throw new TypeError(`${fn}: target is ${describe(target)}; expected the class indices (an Int32Array, Uint32Array or number[] of length N), or null for probability targets`);
  }
  const first: unknown = parts[0];
  const firstMax: unknown = typeof first === "object" && first !== null ? Reflect.get(first, "max") : undefined;
  const n = target !== null ? target.length : firstMax instanceof Float64Array || Array.isArray(firstMax) ? firstMax.length : 0;
  if (n < 1) throw new RangeError(`${fn}: ${target !== null ? "target" : "parts[0].max"} is empty or missing; expected N >= 1 rows`);
  const out: SliceStats[] = [];
  let end = 0;
  parts.forEach((p: unknown, k: number) => {
    if (typeof p !== "object" || p === null) throw new TypeError(`${fn}: parts[${k}] is ${describe(p)}; expected a sliceStats result`);
    const v0: unknown = Reflect.get(p, "v0");
    const v1: unknown = Reflect.get(p, "v1");
    if (typeof v0 !== "number" || typeof v1 !== "number" || !Number.isInteger(v0) || !Number.isInteger(v1)) {
      throw new TypeError(`${fn}: parts[${k}].v0/v1 are ${describe(v0)}, ${describe(v1)}; expected the integer classes [v0, v1) of the shard`);
    }
    if (v0 !== end || v1 <= v0 || v1 > v) {
      throw new RangeError(`${fn}: parts[${k}] covers classes [${v0}, ${v1}); expected [${end}, v1) with ${end} < v1 <= ${v}: parts must tile [0, classes) in order`);
    }
    end = v1;
    const f = STAT_FIELDS.map((name) => rowField(fn, `parts[${k}].${name}`, Reflect.get(p, name), n));
    out.push({ max: f[0]!, sumExp: f[1]!, targetLogit: f[2]!, weightedSum: f[3]!, targetWeight: f[4]! });
  });
  if (end !== v) throw new RangeError(`${fn}: parts end at class ${end}; expected them to cover [0, classes = ${v})`);
  const spec = resolveSpec(o, v, "weight");
  const t = target === null ? null : resolveTarget(fn, target, n, v, o.get("ignoreIndex")).target;
  return { args: { logits: new Float64Array(0), n, v, target: t, probs: null, spec, gradOut: null }, parts: out };
}

/** Validate sliceGrad's `merged` (a mergeSliceStats result) for N rows. */
export function resolveMerged(fn: string, merged: unknown, n: number): MergedStats {
  if (typeof merged !== "object" || merged === null) throw new TypeError(`${fn}: merged is ${describe(merged)}; expected the result of mergeSliceStats`);
  const field = (name: string): Float64Array => rowField(fn, `merged.${name}`, Reflect.get(merged, name), n);
  const scale: unknown = Reflect.get(merged, "scale");
  if (typeof scale !== "number" || Number.isNaN(scale)) throw new TypeError(`${fn}: merged.scale is ${describe(scale)}; expected a number (the gradient's factor)`);
  const max = field("max");
  const sumExp = field("sumExp");
  const coef = field("coef");
  const lse = field("lse");
  return { loss: Number.NaN, rowLoss: new Float64Array(n), lse, max, sumExp, coef, wSum: Number.NaN, scale };
}

/** Validate createEngine's options. `threads` and `spinMs` stay undefined when not given (the executor picks). */
export function resolveEngineOptions(
  options: unknown,
  names: readonly string[],
): { backend: string; threads: number | undefined; spinMs: number | undefined; device: GpuDeviceLike | undefined } {
  const fn = "createEngine";
  if (options === undefined) return { backend: "auto", threads: undefined, spinMs: undefined, device: undefined };
  if (typeof options !== "object" || options === null || Array.isArray(options)) throw new TypeError(`${fn}: options is ${describe(options)}; expected an object`);
  const own = new Map<string, unknown>();
  for (const key of Object.keys(options)) {
    if (key !== "backend" && key !== "threads" && key !== "spinMs" && key !== "device") throw new TypeError(`${fn}: unknown option "${key}"; expected backend, threads, spinMs, device`);
    own.set(key, Reflect.get(options, key));
  }
  const backend = own.get("backend") ?? "auto";
  if (typeof backend !== "string" || (backend !== "auto" && !names.includes(backend))) {
    throw new RangeError(`${fn}: options.backend is ${JSON.stringify(backend)}; expected "auto", ${names.map((b) => `"${b}"`).join(", ")}`);
  }
  const threads = own.get("threads");
  if (threads !== undefined && (typeof threads !== "number" || !Number.isInteger(threads) || threads < 1 || threads > 64)) {
    throw new RangeError(`${fn}: options.threads is ${describe(threads)}; expected an integer from 1 to 64`);
  }
  const spinMs = own.get("spinMs");
  if (spinMs !== undefined && (typeof spinMs !== "number" || !(spinMs >= 0 && spinMs <= 1000))) {
    throw new RangeError(`${fn}: options.spinMs is ${describe(spinMs)}; expected a number of milliseconds from 0 to 1000`);
  }
  const device = own.get("device");
  if (device !== undefined && backend !== "webgpu") {
    throw new TypeError(`${fn}: options.device is given with backend ${JSON.stringify(backend)}; expected backend "webgpu" (only it runs on a GPUDevice)`);
  }
  if (device !== undefined && !isDeviceLike(device)) {
    throw new TypeError(`${fn}: options.device is ${describe(device)} without a GPUDevice's members; expected a GPUDevice (from adapter.requestDevice()), with queue, createBuffer and createComputePipelineAsync`);
  }
  return { backend, threads, spinMs, device };
}

function isDeviceLike(d: unknown): d is GpuDeviceLike {
  return (
    typeof d === "object" && d !== null && "queue" in d && typeof d.queue === "object" && "createBuffer" in d && typeof d.createBuffer === "function" &&
    "createComputePipelineAsync" in d && typeof d.createComputePipelineAsync === "function"
  );
}

/** A resolved distillationLoss call. `target` is the mask (0: counts, -1: masked), or null. */
export interface ResolvedDistillation {
  student: FloatArray;
  teacher: FloatArray;
  n: number;
  v: number;
  target: Int32Array | null;
  spec: DistillationSpec;
  grad: boolean;
  inplace: boolean;
  backend: string;
}

/** Validate a distillationLoss call: two logits of one shape (N, V), the spec, the optional mask. */
export function resolveDistillation(fn: string, studentIn: LogitsInput, teacherIn: LogitsInput, options: unknown): ResolvedDistillation {
  const o = new Options(fn, "distillationLoss", options);
  const classes = o.get("classes");
  const s = resolveLogits(fn, studentIn, classes, "studentLogits");
  const t = resolveLogits(fn, teacherIn, classes ?? s.v, "teacherLogits");
  if (t.v !== s.v || t.n !== s.n) {
    throw new RangeError(`${fn}: teacherLogits is ${t.n}×${t.v}; expected the student's shape N×V = ${s.n}×${s.v}`);
  }
  const kind = o.get("kind");
  if (o.has("beta") && kind !== "jsd") throw new TypeError(`${fn}: options.beta is given with kind "${kind}"; expected kind "jsd" (β weighs the JSD)`);
  const spec: DistillationSpec = { kind, beta: o.get("beta"), temperature: o.get("temperature"), reduction: distillationReduction(fn, o.raw("reduction")) };
  const { grad, inplace } = gradFlags(fn, o);
  if (inplace && !s.callerBuffer) throw new TypeError(`${fn}: options.inplace needs studentLogits as a Float32Array or Float64Array; got a plain array`);
  let target: Int32Array | null = null;
  const raw = o.raw("target");
  if (raw !== undefined) {
    if (!(raw instanceof Int32Array) && !(raw instanceof Uint32Array) && !Array.isArray(raw)) {
      throw new TypeError(`${fn}: options.target is ${describe(raw)}; expected an Int32Array, Uint32Array or number[] of length N = ${s.n}`);
    }
    if (raw.length !== s.n) throw new RangeError(`${fn}: options.target has length ${raw.length}; expected N = ${s.n} (one per row of the logits)`);
    const ignore = o.get("ignoreIndex");
    target = new Int32Array(s.n);
    for (let i = 0; i < s.n; i++) {
      const y: unknown = raw[i];
      if (typeof y !== "number" || !Number.isInteger(y)) throw new TypeError(`${fn}: options.target[${i}] is ${describe(y)}; expected an integer (ignoreIndex ${ignore} masks the token)`);
      target[i] = y === ignore ? -1 : 0;
    }
  } else if (o.has("ignoreIndex")) {
    throw new TypeError(`${fn}: options.ignoreIndex is given without options.target; expected the targets whose ignoreIndex masks tokens`);
  }
  return { student: s.data, teacher: t.data, n: s.n, v: s.v, target, spec, grad, inplace, backend: o.get("backend") };
}
