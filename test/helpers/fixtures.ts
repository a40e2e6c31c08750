/** Loads fixtures/torch-*.json (made by scripts/make_fixtures.py). */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { CrossEntropyOptions } from "../../src/index.js";
import { genTargets, genValues } from "./gen.js";

/** A float as the fixtures write it (JSON has no NaN or infinities). */
export type Num = number | "NaN" | "Infinity" | "-Infinity";
/** Values or targets the fixtures do not store but regenerate from a seed (test/helpers/gen.ts). */
export type Spec = { gen: "values"; count: number; seed: number; scale: number } | { gen: "targets"; count: number; seed: number; v: number };

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

export const num = (x: Num): number => (typeof x === "number" ? x : Number(x));
export const nums = (xs: Num[]): Float64Array => Float64Array.from(xs, num);
/** Stored floats, or floats regenerated from their spec. */
export const values = (x: Num[] | Spec): Float64Array => (Array.isArray(x) ? nums(x) : genValues(x.count, x.seed, (x as { scale: number }).scale));
/** Class indices, probability targets, or class indices regenerated from their spec. */
export function fixtureTarget(t: number[] | { probs: Num[] } | Spec): Int32Array | { probs: Float64Array } {
  if (Array.isArray(t)) return Int32Array.from(t);
  if ("probs" in t) return { probs: nums(t.probs) };
  return genTargets(t.count, t.seed, (t as { v: number }).v);
}

const cache = new Map<string, FixtureCase[]>();

/** The cases of fixtures/`file`: torch-cross-entropy.json (default) or torch-nonfinite.json. */
export function torchFixtures(file = "torch-cross-entropy.json"): FixtureCase[] {
  const hit = cache.get(file);
  if (hit !== undefined) return hit;
  const path = fileURLToPath(new URL(`../../fixtures/${file}`, import.meta.url));
  const raw = JSON.parse(readFileSync(path, "utf8")) as { cases: RawCase[] };
  const cases = raw.cases.map((c): FixtureCase => {
    const logits = values(c.logits);
    const target = fixtureTarget(c.target);
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
