/**
 * Differential fuzzing of linearCrossEntropy through the public API: each drawn case runs on every
 * row of the conformance matrix (test/conformance/matrix.ts), against the materialised float64
 * path (hidden·Wᵀ + b, the reference crossEntropy, then the gradient products:
 * test/linear/oracle.ts), with the tolerances of the linear conformance suite. See gen.ts for the case space and the seed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LinearCrossEntropyOptions } from "../../src/index.js";
import { label, linearTolerance, MATRIX, runnerFor } from "../conformance/matrix.js";
import { assertClose } from "../helpers/close.js";
import { materialise } from "../linear/oracle.js";
import { check, linearCase, linearInputs } from "./gen.js";

const rows = MATRIX.map((row) => ({ name: label(row), row, run: runnerFor(row) }));

async function differential(c: ReturnType<typeof linearInputs>, grad: boolean): Promise<void> {
  const want = materialise({ name: "fuzz", n: c.n, d: c.d, v: c.v, hidden: c.hidden, weight: c.weight, target: c.target, options: c.options });
  const options = { ...c.options, grad } as LinearCrossEntropyOptions;
  for (const { name, row, run } of rows) {
    for (const dtype of row.dtypes) {
      const f32 = dtype === "float32";
      const h = f32 ? new Float32Array(c.hidden) : Float64Array.from(c.hidden);
      const w = f32 ? new Float32Array(c.weight) : Float64Array.from(c.weight);
      const got = await run.linearCrossEntropy(h, w, c.target, options);
      const tag = `${name} [${dtype}${grad ? ", grad" : ""}]`;
      const tol = (x: number | ArrayLike<number>) => linearTolerance(dtype, x);
      assertClose(got.loss, want.loss, tol(want.loss), `${tag} loss`);
      assertClose(got.lse, want.lse, tol(want.lse), `${tag} lse`);
      assert.equal(got.lse instanceof Float32Array, f32, `${tag}: lse dtype follows hidden`);
      if (!grad) {
        assert.equal(got.gradHidden, undefined, `${tag}: no gradient asked`);
        continue;
      }
      assertClose(got.gradHidden!, want.gradHidden, tol(want.gradHidden), `${tag} gradHidden`);
      assertClose(got.gradWeight!, want.gradWeight, tol(want.gradWeight), `${tag} gradWeight`);
      if (c.options.bias !== undefined) assertClose(got.gradBias!, want.gradBias, tol(want.gradBias), `${tag} gradBias`);
    }
  }
}

describe("fuzz: linearCrossEntropy, every backend and engine against the materialised float64 path", () => {
  it("finite hidden states, -Infinity bias masks, every option, index and probability targets", async () => {
    await check("linearCrossEntropy finite", linearCase({ specials: false }), 60, (c) => differential(linearInputs(c), c.ce.grad));
  });
  it("NaN and ±Infinity in the hidden states", async () => {
    await check("linearCrossEntropy non-finite", linearCase({ specials: true }), 40, (c) => differential(linearInputs(c), c.ce.grad));
  });
});
