/**
 * Loads fixtures/torch-lm-outputs.json (made by scripts/make_fixtures_lm.py): PyTorch's float64
 * results for the outputs LM training reads from the loss (crossEntropy cases) and for the
 * distillation losses (distillation cases).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { DistillationKind, DistillationReduction } from "../../src/backends/types.js";
import { fixtureTarget, num, nums, values, type Num, type Spec } from "../helpers/fixtures.js";

type Reduced = Num | Num[] | null;

interface RawCe {
  name: string;
  n: number;
  v: number;
  logits: Num[] | Spec;
  target: number[] | { probs: Num[] } | Spec;
  options: Record<string, unknown>;
  want: {
    loss: Num | null;
    rowLoss: Num[];
    lse: Num[];
    grad: Num[];
    gradIndex?: number[];
    argmax: number[];
    accuracy?: Reduced;
    entropy: Reduced;
    zLoss: Reduced;
  };
}

interface RawDistill {
  name: string;
  n: number;
  v: number;
  student: Num[] | Spec;
  teacher: Num[] | Spec;
  target?: number[];
  options: { kind?: DistillationKind; beta?: number; temperature?: number; reduction?: DistillationReduction; ignoreIndex?: number };
  want: { loss: Num | null; rowLoss: Num[]; grad: Num[]; gradIndex?: number[] };
}

/** A reduced output: a number for mean and sum, per-token values for none, null when absent. */
export type ReducedOut = number | Float64Array | null;

export interface LmCeCase {
  name: string;
  n: number;
  v: number;
  /** (N, V) float64 logits, float32-exact. */
  logits: Float64Array;
  target: Int32Array | { probs: Float64Array };
  /** The options as PyTorch's generator used them (classes not included). */
  options: Record<string, unknown>;
  want: {
    loss: number | null;
    rowLoss: Float64Array;
    lse: Float64Array;
    grad: Float64Array;
    gradIndex: number[] | null;
    argmax: Int32Array;
    /** Absent (null) for probability targets. */
    accuracy: ReducedOut;
    entropy: ReducedOut;
    /** Null when zLoss is 0. */
    zLoss: ReducedOut;
  };
}

export interface DistillCase {
  name: string;
  n: number;
  v: number;
  student: Float64Array;
  teacher: Float64Array;
  /** The caller's target (with its ignoreIndex), or null. */
  target: Int32Array | null;
  kind: DistillationKind;
  beta: number;
  temperature: number;
  reduction: DistillationReduction;
  ignoreIndex: number;
  want: { loss: number | null; rowLoss: Float64Array; grad: Float64Array; gradIndex: number[] | null };
}

const reduced = (x: Reduced | undefined): ReducedOut => (x === undefined || x === null ? null : Array.isArray(x) ? nums(x) : num(x));

let cache: { ce: LmCeCase[]; distill: DistillCase[] } | null = null;

function load(): { ce: LmCeCase[]; distill: DistillCase[] } {
  if (cache !== null) return cache;
  const path = fileURLToPath(new URL("../../fixtures/torch-lm-outputs.json", import.meta.url));
  const raw = JSON.parse(readFileSync(path, "utf8")) as { crossEntropy: RawCe[]; distillation: RawDistill[] };
  const ce = raw.crossEntropy.map((c): LmCeCase => {
    const target = fixtureTarget(c.target);
    const w = c.want;
    return {
      name: c.name,
      n: c.n,
      v: c.v,
      logits: values(c.logits),
      target,
      options: c.options,
      want: {
        loss: w.loss === null ? null : num(w.loss),
        rowLoss: nums(w.rowLoss),
        lse: nums(w.lse),
        grad: nums(w.grad),
        gradIndex: w.gradIndex ?? null,
        argmax: Int32Array.from(w.argmax),
        accuracy: reduced(w.accuracy),
        entropy: reduced(w.entropy),
        zLoss: reduced(w.zLoss),
      },
    };
  });
  const distill = raw.distillation.map((c): DistillCase => ({
    name: c.name,
    n: c.n,
    v: c.v,
    student: values(c.student),
    teacher: values(c.teacher),
    target: c.target === undefined ? null : Int32Array.from(c.target),
    kind: c.options.kind ?? "kl",
    beta: c.options.beta ?? 0.5,
    temperature: c.options.temperature ?? 1,
    reduction: c.options.reduction ?? "batchmean",
    ignoreIndex: c.options.ignoreIndex ?? -100,
    want: {
      loss: c.want.loss === null ? null : num(c.want.loss),
      rowLoss: nums(c.want.rowLoss),
      grad: nums(c.want.grad),
      gradIndex: c.want.gradIndex ?? null,
    },
  }));
  cache = { ce, distill };
  return cache;
}

export function lmCeFixtures(): LmCeCase[] {
  return load().ce;
}

export function distillFixtures(): DistillCase[] {
  return load().distill;
}
