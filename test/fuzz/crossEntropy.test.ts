/**
 * Differential fuzzing of crossEntropy through the public API: each drawn case runs on every row
 * of the conformance matrix (test/conformance/matrix.ts: the reference, js and wasm backends, the
 * js engine and the wasm engine at 1, 2 and 3 threads, each on the dtypes it runs), and every
 * output is compared with the float64 reference on float64 logits, with the conformance suite's
 * tolerances. See gen.ts for the case space and the seed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crossEntropy } from "../../src/index.js";
import { compareCrossEntropy, label, MATRIX, runnerFor } from "../conformance/matrix.js";
import { assertClose } from "../helpers/close.js";
import { ceCase, ceInputs, check } from "./gen.js";

const rows = MATRIX.map((row) => ({ name: label(row), row, run: runnerFor(row) }));

/** Run one case on every row and dtype against the reference. */
async function differential(c: ReturnType<typeof ceInputs>, grad: boolean, inplace: boolean): Promise<void> {
  const opts = { ...c.options, grad, ...(grad && inplace ? { inplace: true } : {}) };
  const want = crossEntropy(c.logits, c.target, { ...opts, inplace: false, backend: "reference" });
  for (const { name, row, run } of rows) {
    for (const dtype of row.dtypes) {
      const f32 = dtype === "float32";
      const x = f32 ? new Float32Array(c.logits) : Float64Array.from(c.logits);
      const before = Float64Array.from(x);
      const got = await run.crossEntropy(x, c.target, opts);
      const tag = `${name} [${dtype}${grad ? ", grad" : ""}${opts.inplace === true ? ", inplace" : ""}]`;
      assert.equal(got.lse instanceof Float32Array, f32, `${tag}: lse dtype follows the logits`);
      if (opts.inplace === true) assert.equal(got.grad, x, `${tag}: inplace returns the logits buffer`);
      else assertClose(x, before, { atol: 0, rtol: 0 }, `${tag}: logits left untouched`);
      if (!grad) assert.equal(got.grad, undefined, `${tag}: no gradient asked`);
      compareCrossEntropy(tag, c.logits, got, want, dtype);
    }
  }
}

describe("fuzz: crossEntropy, every backend and engine against the float64 reference", () => {
  it("finite logits at every scale, with -Infinity masks, every option, index and probability targets", async () => {
    await check("crossEntropy finite", ceCase({ specials: false }), 120, (c) => differential(ceInputs(c), c.grad, c.inplace));
  });
  it("NaN, +Infinity and -Infinity anywhere in a row", async () => {
    await check("crossEntropy non-finite", ceCase({ specials: true }), 80, (c) => differential(ceInputs(c), c.grad, c.inplace));
  });
});
