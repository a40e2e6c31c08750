/**
 * Conformance cases for linearCrossEntropy: every option, alone and combined, on odd shapes
 * (N, D, V not multiples of 4 or 8, V across the 256-column gradient block), float32 and
 * float64, several chunk sizes. Deterministic (seeded).
 */
import { type LinearCase, randomArray, rng } from "./oracle.js";

const SHAPES: readonly (readonly [number, number, number])[] = [
  [1, 1, 1],
  [1, 3, 2],
  [7, 5, 3],
  [13, 11, 37],
  [9, 6, 301],
  [33, 17, 50],
];

/** One set of options for every shape: `probs` for probability targets, `ignored` a fraction of ignored targets. */
export interface OptionSet {
  name: string;
  options: Record<string, unknown>;
  probs?: boolean;
  /** Fraction of targets set to the ignoreIndex. */
  ignored?: number;
}

function optionSets(v: number, rand: () => number): OptionSet[] {
  const classWeight = Array.from({ length: v }, () => 0.25 + 2 * rand());
  const bias = Array.from({ length: v }, () => rand() - 0.5);
  const all = { classWeight, labelSmoothing: 0.1, zLoss: 0.01, softcap: 2.5, bias };
  return [
    { name: "mean", options: {} },
    { name: "sum", options: { reduction: "sum" } },
    { name: "none", options: { reduction: "none" } },
    { name: "ignored", options: {}, ignored: 0.3 },
    { name: "ignoreIndex=valid class 0", options: { ignoreIndex: 0 } },
    { name: "classWeight", options: { classWeight }, ignored: 0.2 },
    { name: "labelSmoothing", options: { labelSmoothing: 0.2 } },
    { name: "zLoss", options: { zLoss: 0.05 } },
    { name: "softcap", options: { softcap: 1.5 } },
    { name: "bias", options: { bias } },
    { name: "probs", options: {}, probs: true },
    { name: "probs all options sum", options: { ...all, reduction: "sum" }, probs: true },
    { name: "all options mean", options: all, ignored: 0.25 },
    { name: "all options none", options: { ...all, reduction: "none" }, ignored: 0.25 },
    { name: "all ignored mean", options: { bias }, ignored: 1 },
  ];
}

/**
 * Shapes whose thin row chunks make the wasm backend take vocabulary blocks (wasm/linearBlocks.ts;
 * `linearLayout` in test/linear/blocks.test.ts checks that they do). With 15-row chunks: one group
 * of all rows, blocks of two 256-class tiles, the last block short (1100 = 2·512 + 76; 700 =
 * 512 + 188); with 3-row chunks: groups of 10 or 8 rows with a shorter last one, one-tile blocks.
 * 70 × 20 × 2000 has groups of 70 rows (15-row chunks) and row chunks of 64 (`chunkSize: 64`), where
 * both gradient products copy their right operand into the packing buffer (32 rows and more).
 */
export const BLOCK_SHAPES: readonly (readonly [number, number, number])[] = [
  [29, 70, 1100],
  [17, 6, 700],
  [70, 20, 2000],
];
export const BLOCK_CHUNKS: readonly Record<string, unknown>[] = [{ chunkSize: 15 }, { chunkSize: 3 }, { chunkSize: 64 }];

/** The cases of every backend: the chunking cycles through one row per chunk, a few rows, and the default budget. */
export function rowChunkCases(): LinearCase[] {
  return buildCases(20261128, SHAPES, optionSets, [{ chunkSize: 1 }, { chunkSize: 3 }, {}, { memoryBudget: 64 }]);
}

/** rowChunkCases, then the shapes that take vocabulary blocks (and packed products) on the wasm backend. */
export function linearCases(): LinearCase[] {
  return [...rowChunkCases(), ...buildCases(20261202, BLOCK_SHAPES, optionSets, BLOCK_CHUNKS)];
}

/**
 * Every option set on every shape (N, D, V), float32 and float64, with random hidden and weight
 * from `seed`; case k takes chunking `chunks[k % chunks.length]`, and probability targets alternate
 * between flat (with options.classes) and rows.
 */
export function buildCases(
  seed: number,
  shapes: readonly (readonly [number, number, number])[],
  sets: (v: number, rand: () => number) => OptionSet[],
  chunks: readonly Record<string, unknown>[],
): LinearCase[] {
  const rand = rng(seed);
  const cases: LinearCase[] = [];
  let k = 0;
  for (const [n, d, v] of shapes) {
    for (const set of sets(v, rand)) {
      for (const f32 of [true, false]) {
        k++;
        const hidden = randomArray(n * d, 1.5, rand, f32);
        const weight = randomArray(v * d, 1, rand, f32);
        const ignoreIndex = (set.options.ignoreIndex as number | undefined) ?? -100;
        let target: LinearCase["target"];
        const extra: Record<string, unknown> = {};
        if (set.probs) {
          const probs = new Float64Array(n * v);
          for (let i = 0; i < n; i++) {
            let s = 0;
            for (let j = 0; j < v; j++) s += probs[i * v + j] = rand() ** 3;
            for (let j = 0; j < v; j++) probs[i * v + j]! /= s;
          }
          // Flat probabilities need options.classes; rows give N themselves.
          if (k % 2 === 0) {
            target = { probs };
            extra.classes = v;
          } else {
            target = { probs: Array.from({ length: n }, (_, i) => Array.from(probs.subarray(i * v, (i + 1) * v))) };
          }
        } else {
          target = Array.from({ length: n }, () => (rand() < (set.ignored ?? 0) ? ignoreIndex : Math.floor(rand() * v)));
        }
        const chunk = chunks[k % chunks.length]!;
        cases.push({
          name: `${set.name} N=${n} D=${d} V=${v} ${f32 ? "f32" : "f64"} ${JSON.stringify(chunk)}`,
          n,
          d,
          v,
          hidden,
          weight,
          target,
          options: { ...set.options, ...chunk, ...extra },
        });
      }
    }
  }
  return cases;
}
