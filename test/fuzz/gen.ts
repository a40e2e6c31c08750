/**
 * The differential fuzzer's case generator and runner (fast-check). A case is a small record
 * (shape, seeds, scale, special-value placements, options) that fast-check draws and shrinks;
 * its arrays are made from it deterministically, so a failure prints a short, replayable case.
 *
 * Seed and runs: XENT_FUZZ_SEED (default below) and XENT_FUZZ_RUNS (a multiplier of each
 * property's default run count, default 1). A failure prints both, the shrunk case and the
 * command that replays it.
 */
import fc from "fast-check";
import type { CrossEntropyOptions, TargetInput } from "../../src/index.js";
import { rng } from "../helpers/gen.js";

/** The fixed default seed: every `npm test` runs the same cases unless XENT_FUZZ_SEED is set. */
export const DEFAULT_SEED = 20261202;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const x = Number(raw);
  if (!Number.isFinite(x)) throw new RangeError(`${name} is "${raw}"; expected a number`);
  return x;
}

export const SEED = envNumber("XENT_FUZZ_SEED", DEFAULT_SEED);
const RUNS_FACTOR = envNumber("XENT_FUZZ_RUNS", 1);

/** Run a property with the suite's seed; a failure names the seed, the shrunk case and how to replay it. */
export async function check<T>(name: string, arb: fc.Arbitrary<T>, runs: number, body: (c: T) => Promise<void> | void): Promise<void> {
  const numRuns = Math.max(1, Math.round(runs * RUNS_FACTOR));
  const details = await fc.check(fc.asyncProperty(arb, async (c) => body(c)), { seed: SEED, numRuns });
  if (details.failed) {
    const err = details.errorInstance;
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(
      `fuzz property "${name}" failed (seed ${SEED}, ${details.numRuns} runs, shrunk ${details.numShrinks} times)\n` +
        `shrunk case: ${fc.stringify(details.counterexample?.[0])}\n` +
        `replay: XENT_FUZZ_SEED=${SEED} node scripts/run-tests.mjs test/fuzz (path ${details.counterexamplePath ?? "?"})\n` +
        `${why}`,
    );
  }
}

/** Vocabulary sizes: tiny, primes, multiples of 4 and 16 and their neighbours, and any up to 300. */
export const vocab = fc.oneof(
  fc.constantFrom(1, 2, 3),
  fc.constantFrom(5, 7, 11, 13, 31, 97, 127, 251, 257, 293),
  fc.constantFrom(4, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257),
  fc.integer({ min: 1, max: 300 }),
);

export type Special = "nan" | "+inf" | "-inf";

/** Where a special value goes: a row and a column as fractions of N and V. */
export interface Placement {
  row: number;
  col: number;
  value: Special;
}

const placement = fc.record({ row: fc.integer({ min: 0, max: 99 }), col: fc.integer({ min: 0, max: 99 }), value: fc.constantFrom<Special>("nan", "+inf", "-inf") });

/** How the ignoreIndex is set: left at -100, -1, or a valid class (its rows are then ignored). */
export type IgnoreKind = "default" | "minus-one" | "valid-class";

export interface CeCase {
  n: number;
  v: number;
  seed: number;
  /** The logits are uniform in [-scale, scale] (float32-exact). */
  scale: number;
  /** Fraction of logits set to -Infinity (masks). */
  mask: number;
  specials: readonly Placement[];
  probs: boolean;
  ignore: IgnoreKind;
  /** Fraction of index targets set to the ignoreIndex. */
  ignored: number;
  reduction: "mean" | "sum" | "none" | undefined;
  labelSmoothing: number | undefined;
  /** none, positive class weights, or some of them zero. */
  weight: "none" | "positive" | "some-zero";
  zLoss: number | undefined;
  softcap: number | undefined;
  grad: boolean;
  inplace: boolean;
}

/** Every option combination, index and probability targets, logit scales, masks and special values. */
export function ceCase(opts: { specials: boolean; maxN?: number } = { specials: true }): fc.Arbitrary<CeCase> {
  return fc.record({
    n: fc.integer({ min: 1, max: opts.maxN ?? 5 }),
    v: vocab,
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
    scale: fc.constantFrom(1e-3, 1, 30, 1e4),
    mask: fc.constantFrom(0, 0, 0.25),
    specials: opts.specials ? fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 2, arbitrary: fc.array(placement, { minLength: 1, maxLength: 3 }) }) : fc.constant([]),
    probs: fc.boolean(),
    ignore: fc.constantFrom<IgnoreKind>("default", "minus-one", "valid-class"),
    ignored: fc.constantFrom(0, 0.3),
    reduction: fc.constantFrom("mean" as const, "sum" as const, "none" as const, undefined),
    labelSmoothing: fc.constantFrom(undefined, 0, 0.1, 0.5),
    weight: fc.constantFrom("none" as const, "positive" as const, "some-zero" as const),
    zLoss: fc.constantFrom(undefined, 0, 1e-3, 0.1),
    softcap: fc.constantFrom(undefined, 5, 30),
    grad: fc.boolean(),
    inplace: fc.boolean(),
  });
}

/** Uniform float32-exact values in [-scale, scale). */
export function values(len: number, seed: number, scale: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: len }, () => Math.fround((2 * r() - 1) * scale));
}

const SPECIAL: Record<Special, number> = { nan: NaN, "+inf": Infinity, "-inf": -Infinity };

/** Put the placements into an (n, v) array, in place. */
export function place(x: Float64Array, n: number, v: number, specials: readonly Placement[]): void {
  for (const p of specials) x[(p.row % n) * v + (p.col % v)] = SPECIAL[p.value];
}

export interface CeInputs {
  /** (N, V) float32-exact logits, float64. */
  logits: Float64Array;
  target: TargetInput;
  /** Options without grad/inplace/backend. */
  options: CrossEntropyOptions;
}

/** Class weights (V) for a case: none, positive, or every third one zero. */
export function classWeights(kind: CeCase["weight"], v: number, seed: number): Float64Array | undefined {
  if (kind === "none") return undefined;
  const r = rng(seed);
  return Float64Array.from({ length: v }, (_, j) => (kind === "some-zero" && j % 3 === 1 ? 0 : Math.fround(0.25 + 2 * r())));
}

/** The case's arrays and options, made deterministically from it. */
export function ceInputs(c: CeCase): CeInputs {
  const { n, v } = c;
  const r = rng(c.seed ^ 0x5bd1e995);
  const logits = values(n * v, c.seed, c.scale);
  if (c.mask > 0) for (let k = 0; k < logits.length; k++) if (r() < c.mask) logits[k] = -Infinity;
  place(logits, n, v, c.specials);
  const options: CrossEntropyOptions = { classes: v };
  if (c.reduction !== undefined) options.reduction = c.reduction;
  if (c.labelSmoothing !== undefined) options.labelSmoothing = c.labelSmoothing;
  if (c.zLoss !== undefined) options.zLoss = c.zLoss;
  if (c.softcap !== undefined) options.softcap = c.softcap;
  const weight = classWeights(c.weight, v, c.seed + 1);
  if (weight !== undefined) options.weight = weight;
  let target: TargetInput;
  if (c.probs) {
    const p = new Float64Array(n * v);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < v; j++) s += p[i * v + j] = r() < 0.2 ? 0 : r();
      if (s === 0) p[i * v] = s = 1;
      for (let j = 0; j < v; j++) p[i * v + j] = Math.fround(p[i * v + j]! / s);
    }
    target = { probs: p };
  } else {
    const ignoreIndex = c.ignore === "default" ? -100 : c.ignore === "minus-one" ? -1 : Math.floor(r() * v);
    if (c.ignore !== "default") options.ignoreIndex = ignoreIndex;
    // With "some-zero" weights, a mean whose counted targets all have weight 0 (D = 0) is drawn too.
    target = Int32Array.from({ length: n }, () => (r() < c.ignored ? ignoreIndex : Math.floor(r() * v)));
  }
  return { logits, target, options };
}

export interface LinearFuzzCase {
  ce: CeCase;
  d: number;
  bias: boolean;
  chunkSize: number | undefined;
}

/** A fused linear head case: crossEntropy's case space, plus D, a bias (where -Infinity masks go) and chunking. */
export function linearCase(opts: { specials: boolean }): fc.Arbitrary<LinearFuzzCase> {
  return fc.record({
    ce: ceCase({ specials: opts.specials }),
    d: fc.integer({ min: 1, max: 9 }),
    bias: fc.boolean(),
    chunkSize: fc.constantFrom(undefined, 1, 2),
  });
}

export interface LinearInputs {
  n: number;
  d: number;
  v: number;
  /** (N, D) and (V, D), float32-exact, float64. */
  hidden: Float64Array;
  weight: Float64Array;
  target: TargetInput;
  /** linearCrossEntropy's options (classWeight, bias, chunkSize, ...), without grad/backend. */
  options: Record<string, unknown>;
}

/** The case's arrays: hidden scaled so that the logits span about crossEntropy's scales. */
export function linearInputs(c: LinearFuzzCase): LinearInputs {
  const { n, v } = c.ce;
  const d = c.d;
  const ce = ceInputs({ ...c.ce, specials: [], mask: 0 });
  const hScale = c.ce.scale === 1e4 ? 10 : c.ce.scale === 30 ? 3 : c.ce.scale;
  const hidden = values(n * d, c.ce.seed + 2, hScale);
  place(hidden, n, d, c.ce.specials);
  const weight = values(v * d, c.ce.seed + 3, 1);
  const { weight: classWeight, ...rest } = ce.options;
  const options: Record<string, unknown> = { ...rest };
  if (classWeight !== undefined) options.classWeight = classWeight;
  if (c.bias) {
    const b = values(v, c.ce.seed + 4, 1);
    const r = rng(c.ce.seed + 5);
    if (c.ce.mask > 0) for (let j = 0; j < v; j++) if (r() < c.ce.mask) b[j] = -Infinity;
    options.bias = b;
  }
  if (c.chunkSize !== undefined) options.chunkSize = c.chunkSize;
  return { n, d, v, hidden, weight, target: ce.target, options };
}
