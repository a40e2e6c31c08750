/**
 * The crossEntropy conformance cases: the PyTorch fixtures, plus bigger and odd shapes with every
 * option at once (V across the SIMD widths 4 and 16, the online chunk of 2048, and beyond).
 * The values are float32-exact, so each case runs as float32 and float64 input alike.
 */
import type { CrossEntropyOptions, TargetInput } from "../../src/index.js";
import { torchFixtures } from "../helpers/fixtures.js";
import { genTargets, genValues } from "../helpers/gen.js";

export interface ConformanceCase {
  name: string;
  logits: Float32Array | Float64Array;
  target: TargetInput;
  options: CrossEntropyOptions;
}

/** Extra cases beyond the PyTorch fixtures: bigger shapes, every option at once. */
function extraCases(): ConformanceCase[] {
  const out: ConformanceCase[] = [];
  const shapes: [number, number][] = [[64, 1000], [17, 1031], [5, 4099], [33, 256], [5, 4], [6, 8], [7, 64], [3, 2049], [3, 33999]];
  // [3, 33999]: few rows of a large vocabulary, which the wasm engine splits by vocabulary (src/backends/wasm/vocabSplit.ts).
  for (const [n, v] of shapes) {
    const logits = genValues(n * v, n + v, 6);
    const target = genTargets(n, n * v, v);
    target[1] = -100;
    const weight = Float64Array.from(genValues(v, 5, 1), (x) => Math.abs(x) + 0.1);
    const probsRaw = genValues(n * v, 9, 1).map((x) => Math.abs(x));
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < v; j++) s += probsRaw[i * v + j]!;
      for (let j = 0; j < v; j++) probsRaw[i * v + j]! /= s;
    }
    const probs = Float64Array.from(new Float32Array(probsRaw));
    out.push({ name: `extra/${n}x${v}/plain`, logits, target, options: { classes: v } });
    out.push({
      name: `extra/${n}x${v}/all-options`,
      logits,
      target,
      options: { classes: v, reduction: "mean", labelSmoothing: 0.1, weight, zLoss: 1e-3, softcap: 4 },
    });
    out.push({ name: `extra/${n}x${v}/probs-all-options`, logits, target: { probs }, options: { classes: v, reduction: "sum", labelSmoothing: 0.05, weight, zLoss: 1e-3, softcap: 4 } });
    const masked = Float64Array.from(logits);
    for (let k = 3; k < masked.length; k += 7) masked[k] = -Infinity;
    const tm = Int32Array.from(target, (y, i) => (y >= 0 && masked[i * v + y] === -Infinity ? (y + 1) % v : y));
    out.push({ name: `extra/${n}x${v}/masked`, logits: masked, target: tm, options: { classes: v, reduction: "none", weight } });
  }
  return out;
}

/** Every conformance case: the PyTorch fixtures plus the extra shapes (float64 logits). */
export function conformanceCases(): ConformanceCase[] {
  const fixtures = torchFixtures().map((c) => ({ name: c.name, logits: c.logits, target: c.target, options: c.options }));
  return [...fixtures, ...extraCases()];
}

