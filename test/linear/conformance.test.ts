/**
 * linearCrossEntropy on every backend that has the kernel, against the materialised float64
 * path (hidden·Wᵀ + b, then crossEntropy with its gradient, then the two gradient products).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { init, linearCrossEntropy, listBackends } from "../../src/index.js";
import { getBackend } from "../../src/backends/registry.js";
import { linearCases } from "./cases.js";
import { assertClose, materialise } from "./oracle.js";

await init(); // registers the synchronous "wasm" backend where WebAssembly SIMD runs
const backends = listBackends().filter((b) => getBackend(b).linearCrossEntropy !== undefined);
const cases = linearCases();
const wants = cases.map(materialise);

const maxAbs = (x: number | ArrayLike<number>): number => {
  const a = typeof x === "number" ? [x] : x;
  let m = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!)) m = Math.max(m, Math.abs(a[i]!));
  return m;
};

for (const backend of backends) {
  describe(`linearCrossEntropy conformance on ${backend}`, () => {
    it("has cases for both backends the suite must cover", () => {
      assert.ok(backends.includes("js") && backends.includes("reference"));
      assert.ok(cases.length > 100);
    });
    cases.forEach((c, idx) => {
      it(c.name, () => {
        const want = wants[idx]!;
        const f32 = c.hidden instanceof Float32Array;
        const out = linearCrossEntropy(c.hidden, c.weight, c.target, { ...c.options, grad: true, backend });
        const fwd = linearCrossEntropy(c.hidden, c.weight, c.target, { ...c.options, backend });
        // float32: the logits are float32 dot products; float64: rounding only.
        const tol = (x: number | ArrayLike<number>) =>
          f32 ? { atol: 2e-5 * Math.max(1, maxAbs(x)), rtol: 1e-4 } : { atol: 1e-11 * Math.max(1, maxAbs(x)), rtol: 1e-10 };
        assertClose(out.loss, want.loss, tol(want.loss), `${c.name}: loss`);
        assertClose(fwd.loss, want.loss, tol(want.loss), `${c.name}: loss without grad`);
        assertClose(out.lse, want.lse, tol(want.lse), `${c.name}: lse`);
        assert.equal(out.lse instanceof Float32Array, f32, "lse element type follows hidden");
        assertClose(out.gradHidden!, want.gradHidden, tol(want.gradHidden), `${c.name}: gradHidden`);
        assertClose(out.gradWeight!, want.gradWeight, tol(want.gradWeight), `${c.name}: gradWeight`);
        if (c.options.bias !== undefined) {
          assertClose(out.gradBias!, want.gradBias, tol(want.gradBias), `${c.name}: gradBias`);
        } else {
          assert.equal(out.gradBias, undefined);
        }
        assert.equal(fwd.gradHidden, undefined);
      });
    });
  });
}
