/** Loads fixtures/torch-*.json (made by scripts/make_fixtures.py). */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { CrossEntropyOptions } from "../../src/index.js";
import { genTargets, genValues } from "./gen.js";

type Num = number | "NaN" | "Infinity" | "-Infinity";
type Spec = { gen: "values"; count: number; seed: number; scale: number } | { gen: "targets"; count: number; seed: number; v: number };

interface RawCase {
  name: string;
  n: number;
  v: number;
  logits: Num[] | Spec;
  target: number[] | { probs: Num[] } | Spec;
  options: Record<string, unknown>;
  want: { loss: Num | null; rowLoss: Num[]; lse: Num[]; grad: Num[]; gradIndex?: number[]; softmax?: Num[]; logSoftmax?: Num[] };
}

export interface FixtureCase {
  name: string;
  n: number;
  v: number;
  /** (N, V) float64 logits, float32-exact. */
  logits: Float64Array;
  target: Int32Array | { probs: Float64Array };
  /** Options for crossEntropy (classes included). */
  options: CrossEntropyOptions;
  want: {
    loss: number | null;
    rowLoss: Float64Array;
    lse: Float64Array;
    /** The whole gradient, or the entries at gradIndex. */
    grad: Float64Array;
    gradIndex: number[] | null;
    /** PyTorch's softmax and log_softmax of the (capped) logits, (N, V), where the case has them. */
    softmax: Float64Array | null;
    logSoftmax: Float64Array | null;
  };
}

const num = (x: Num): number => (typeof x === "number" ? x : Number(x));
const nums = (xs: Num[]): Float64Array => Float64Array.from(xs, num);

const cache = new Map<string, FixtureCase[]>();

/** The cases of fixtures/`file`: torch-cross-entropy.json (default) or torch-nonfinite.json. */
export function torchFixtures(file = "torch-cross-entropy.json"): FixtureCase[] {
  const hit = cache.get(file);
  if (hit !== undefined) return hit;
  const path = fileURLToPath(new URL(`../../fixtures/${file}`, import.meta.url));
  const raw = JSON.parse(readFileSync(path, "utf8")) as { cases: RawCase[] };
  const cases = raw.cases.map((c): FixtureCase => {
    const logits = Array.isArray(c.logits) ? nums(c.logits) : genValues(c.logits.count, c.logits.seed, (c.logits as { scale: number }).scale);
    let target: FixtureCase["target"];
    if (Array.isArray(c.target)) target = Int32Array.from(c.target);
    else if ("probs" in c.target) target = { probs: nums(c.target.probs) };
    else target = genTargets(c.target.count, c.target.seed, (c.target as { v: number }).v);
    return {
      name: c.name,
      n: c.n,
      v: c.v,
      logits,
      target,
      options: { ...(c.options as CrossEntropyOptions), classes: c.v },
      want: {
        loss: c.want.loss === null ? null : num(c.want.loss),
        rowLoss: nums(c.want.rowLoss),
        lse: nums(c.want.lse),
        grad: nums(c.want.grad),
        gradIndex: c.want.gradIndex ?? null,
        softmax: c.want.softmax === undefined ? null : nums(c.want.softmax),
        logSoftmax: c.want.logSoftmax === undefined ? null : nums(c.want.logSoftmax),
      },
    };
  });
  cache.set(file, cases);
  return cases;
}
