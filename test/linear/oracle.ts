/**
 * The materialised path, in float64: logits = hidden·weightᵀ + bias, then the public
 * crossEntropy on the reference backend with the gradient (and the LM outputs the options ask for), then dHidden = G·weight,
 * dWeight = Gᵀ·hidden and dBias = Σ_rows G. Every linearCrossEntropy backend is checked against it.
 */
import { crossEntropy } from "../../src/index.js";
import type { TargetInput } from "../../src/api/options.js";

export interface LinearCase {
  name: string;
  n: number;
  d: number;
  v: number;
  hidden: Float32Array | Float64Array;
  weight: Float32Array | Float64Array;
  target: TargetInput;
  options: Record<string, unknown>;
}

export interface Materialised {
  loss: number | Float64Array;
  lse: Float64Array;
  /** The LM outputs the case's options ask for (zLoss with zLoss > 0), as crossEntropy returns them. */
  accuracy?: number | Float64Array;
  argmax?: Int32Array;
  entropy?: number | Float64Array;
  zLoss?: number | Float64Array;
  /** The materialised float64 logits (N, V). */
  logits: Float64Array;
  gradHidden: Float64Array;
  gradWeight: Float64Array;
  gradBias: Float64Array;
}

export { rng } from "../helpers/gen.js";

/** Uniform values in [-scale, scale). */
export function randomArray(len: number, scale: number, rand: () => number, f32: boolean): Float32Array | Float64Array {
  const out = f32 ? new Float32Array(len) : new Float64Array(len);
  for (let i = 0; i < len; i++) out[i] = (2 * rand() - 1) * scale;
  return out;
}

/** The materialised oracle for a case (the "linear" options mapped to crossEntropy's). */
export function materialise(c: LinearCase): Materialised {
  const { n, d, v } = c;
  const o = c.options;
  const bias = o.bias as ArrayLike<number> | undefined;
  const logits = new Float64Array(n * v);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < v; j++) {
      let s = bias === undefined ? 0 : bias[j]!;
      for (let k = 0; k < d; k++) s += c.hidden[i * d + k]! * c.weight[j * d + k]!;
      logits[i * v + j] = s;
    }
  }
  const ceOptions: Record<string, unknown> = { classes: v, grad: true, backend: "reference" };
  for (const key of ["reduction", "ignoreIndex", "labelSmoothing", "zLoss", "softcap", "temperature", "denominator", "accuracy", "argmax", "entropy"]) {
    if (o[key] !== undefined) ceOptions[key] = o[key];
  }
  if (o.classWeight !== undefined) ceOptions.weight = o.classWeight;
  let target = c.target;
  if (typeof target === "object" && "probs" in target) {
    const p = target.probs;
    target = { probs: Float64Array.from(Array.isArray(p) && Array.isArray(p[0]) ? (p as number[][]).flat() : (p as ArrayLike<number>)) };
  }
  const out = crossEntropy(logits, target, ceOptions);
  const { accuracy, argmax, entropy, zLoss } = out;
  const g = out.grad!;
  const gradHidden = new Float64Array(n * d);
  const gradWeight = new Float64Array(v * d);
  const gradBias = new Float64Array(v);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < v; j++) {
      const x = g[i * v + j]!;
      gradBias[j]! += x;
      for (let k = 0; k < d; k++) {
        gradHidden[i * d + k]! += x * c.weight[j * d + k]!;
        gradWeight[j * d + k]! += x * c.hidden[i * d + k]!;
      }
    }
  }
  return { loss: out.loss as number | Float64Array, lse: out.lse, accuracy, argmax, entropy, zLoss, logits, gradHidden, gradWeight, gradBias };
}

export { assertClose } from "../helpers/close.js";
