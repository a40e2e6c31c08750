/**
 * The oracle's own check: the float64 reference backend against PyTorch's float64 results
 * (fixtures/torch-cross-entropy.json, made by scripts/make_fixtures.py), case by case.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crossEntropy } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { torchFixtures } from "../helpers/fixtures.js";

const cases = torchFixtures();

test("the fixtures cover every option combination and edge case", () => {
  assert.ok(cases.length >= 150, `only ${cases.length} cases`);
  const names = cases.map((c) => c.name).join("\n");
  for (const needle of ["grid/probs", "grid/index", "ignore/all", "weight/all-zero", "mask/neginf", "extreme/pm1e4", "extreme/88to100", "vocab/50257", "shape/1x1", "shape/4x2"]) {
    assert.ok(names.includes(needle), `no fixture named like ${needle}`);
  }
});

for (const c of cases) {
  test(`reference matches PyTorch: ${c.name}`, () => {
    const maxAbs = c.logits.reduce((m, x) => (Number.isFinite(x) ? Math.max(m, Math.abs(x)) : m), 1);
    const tol = { atol: 1e-12 * maxAbs, rtol: 1e-10 };
    const out = crossEntropy(c.logits, c.target, { ...c.options, grad: true, backend: "reference" });
    if (c.want.loss !== null) assertClose(out.loss as number, c.want.loss, tol, `${c.name} loss`);
    else assertClose(out.loss as Float64Array, c.want.rowLoss, tol, `${c.name} loss (none)`);
    assertClose(out.lse, c.want.lse, tol, `${c.name} lse`);
    const none = crossEntropy(c.logits, c.target, { ...c.options, reduction: "none", backend: "reference" });
    assertClose(none.loss as Float64Array, c.want.rowLoss, tol, `${c.name} per-token loss`);
    const grad = c.want.gradIndex === null ? out.grad! : c.want.gradIndex.map((i) => out.grad![i]!);
    assertClose(grad, c.want.grad, { atol: 1e-12, rtol: 1e-9 }, `${c.name} grad`, c.want.gradIndex ?? undefined);
  });
}
