/**
 * What LM training reads from the loss (temperature, an external denominator, accuracy, argmax,
 * entropy, the z-loss term apart), against PyTorch's float64 fixtures
 * (fixtures/torch-lm-outputs.json, scripts/make_fixtures_lm.py): the reference backend case by
 * case at float64 tolerance, then every row of the conformance matrix at its tolerance.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crossEntropy, type CrossEntropyOptions, type CrossEntropyOutput, type TargetInput } from "../../src/index.js";
import { assertClose, type Tolerance } from "../helpers/close.js";
import { crossEntropyTolerance, label, MATRIX, runnerFor, type Dtype } from "../conformance/matrix.js";
import { lmCeFixtures, type LmCeCase, type ReducedOut } from "./fixtures.js";

const cases = lmCeFixtures();

/** The fixture's options as crossEntropy options, every output asked for. */
function optionsOf(c: LmCeCase): CrossEntropyOptions {
  return { ...(c.options as CrossEntropyOptions), classes: c.v };
}

function targetOf(c: LmCeCase): TargetInput {
  return c.target instanceof Int32Array ? c.target : { probs: c.target.probs };
}

function checkReduced(got: number | ArrayLike<number> | undefined, want: ReducedOut, tol: Tolerance, name: string): void {
  if (want === null) {
    assert.equal(got, undefined, `${name}: present, want absent`);
    return;
  }
  assert.notEqual(got, undefined, `${name}: absent`);
  if (typeof want === "number") assertClose(got as number, want, tol, name);
  else assertClose(got as ArrayLike<number>, want, tol, name);
}

/**
 * Compare with the fixture. `dtype` float32 runs may pick, on a near-tie that float64 separates,
 * another maximal class: their argmax is accepted when its logit is within `value` tolerance of
 * the row's max.
 */
function compare(name: string, c: LmCeCase, got: CrossEntropyOutput, tol: { value: Tolerance; grad: Tolerance }): void {
  const w = c.want;
  if (w.loss !== null) assertClose(got.loss as number, w.loss, tol.value, `${name} loss`);
  else assertClose(got.loss as ArrayLike<number>, w.rowLoss, tol.value, `${name} per-token loss`);
  assertClose(got.lse, w.lse, tol.value, `${name} lse`);
  if (got.grad !== undefined) {
    const g = got.grad;
    const grad = w.gradIndex === null ? g : w.gradIndex.map((i) => g[i]!);
    assertClose(grad, w.grad, tol.grad, `${name} grad`, w.gradIndex ?? undefined);
  }
}

test("the LM-output fixtures cover every new option and edge case", () => {
  assert.ok(cases.length >= 200, `only ${cases.length} cases`);
  const names = cases.map((c) => c.name).join("\n");
  for (const needle of ["temperature=0.5", "temperature=2.5", "softcap=3.0", "denominator=", "denominator/split", "probs/", "ties/", "shape/1x1", "shape/3x100", "extreme/pm1e4", "mask/neginf", "ignore/all", "vocab/50257"]) {
    assert.ok(names.includes(needle), `no fixture named like ${needle}`);
  }
});

for (const c of cases) {
  test(`reference matches PyTorch (LM outputs): ${c.name}`, () => {
    let maxAbs = 1;
    for (const x of c.logits) if (Number.isFinite(x)) maxAbs = Math.max(maxAbs, Math.abs(x));
    const tol = { value: { atol: 1e-12 * maxAbs, rtol: 1e-10 }, grad: { atol: 1e-12, rtol: 1e-9 } };
    const out = crossEntropy(c.logits, targetOf(c), { ...optionsOf(c), grad: true, backend: "reference" });
    compare(c.name, c, out, tol);
  });
}

// Every row of the conformance matrix on the fixtures that are not GPT-2 sized (those run once, on the reference, above).
const small = cases.filter((c) => c.v < 1000);

for (const row of MATRIX) {
  const run = runnerFor(row);
  test(`${label(row)}: LM outputs match PyTorch`, async () => {
    for (const c of small) {
      for (const dtype of row.dtypes) {
        const f32 = dtype === "float32";
        const x = f32 ? new Float32Array(c.logits) : Float64Array.from(c.logits);
        const tol = crossEntropyTolerance(dtype as Dtype, c.logits);
        const tag = `${label(row)} ${c.name} [${dtype}]`;
        compare(tag, c, await run.crossEntropy(x, targetOf(c), { ...optionsOf(c), grad: true }), tol);
        compare(`${tag} no grad`, c, await run.crossEntropy(x, targetOf(c), optionsOf(c)), tol);
      }
    }
  });
}

export { checkReduced };
