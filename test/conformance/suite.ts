/**
 * The crossEntropy conformance suite, shared by the matrix (crossEntropy.test.ts) and the webgpu
 * tests: each case against the reference with a gradient, without one, and in place, for each
 * dtype; outputs keep the input's dtype and leave the inputs untouched. With an engine, also
 * zero-copy: logits (and probabilities) in engine memory, the gradient returned in engine memory.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crossEntropy } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { conformanceCases, type ConformanceCase } from "./cases.js";
import { compareCrossEntropy, type Dtype, type Runner } from "./matrix.js";

/**
 * Every conformance case on one runner (or those `only` keeps, given each case and its index):
 * with a gradient, without one, in place, for each dtype; with an engine, zero-copy too. `name`
 * prefixes the test names.
 */
export function crossEntropySuite(name: string, run: Runner, dtypes: readonly Dtype[], only?: (c: ConformanceCase, index: number) => boolean): void {
  for (const c of conformanceCases().filter((c, i) => only === undefined || only(c, i))) {
    test(`${name} conforms: ${c.name}`, async () => {
      const want = crossEntropy(c.logits, c.target, { ...c.options, grad: true, backend: "reference" });
      const wantNoGrad = crossEntropy(c.logits, c.target, { ...c.options, backend: "reference" });
      for (const dtype of dtypes) {
        const f32 = dtype === "float32";
        const tag = `${c.name} [${dtype}]`;
        const x = f32 ? new Float32Array(c.logits) : Float64Array.from(c.logits);
        const before = Float64Array.from(x);
        const got = await run.crossEntropy(x, c.target, { ...c.options, grad: true });
        assert.equal(got.lse instanceof Float32Array, f32, `${tag}: lse dtype follows the logits`);
        assert.equal(got.grad instanceof Float32Array, f32, `${tag}: grad dtype follows the logits`);
        assertClose(x, before, { atol: 0, rtol: 0 }, `${tag}: logits left untouched`);
        compareCrossEntropy(tag, c.logits, got, want, dtype);
        compareCrossEntropy(`${tag} no grad`, c.logits, await run.crossEntropy(x, c.target, { ...c.options }), wantNoGrad, dtype);
        const inplace = await run.crossEntropy(x, c.target, { ...c.options, grad: true, inplace: true });
        assert.equal(inplace.grad, x, `${tag}: inplace returns the logits buffer`);
        compareCrossEntropy(`${tag} inplace`, c.logits, inplace, want, dtype);
      }
      const engine = await run.engine();
      if (engine === null || !dtypes.includes("float32")) return;
      // Zero-copy: logits and probabilities in engine memory; the gradient is a new engine block.
      const buf = engine.alloc(c.logits.length);
      buf.set(c.logits);
      let target = c.target;
      let probs: Float32Array | null = null;
      if (typeof target === "object" && "probs" in target) {
        probs = engine.alloc(c.logits.length);
        const flat: number[] = [];
        for (const r of target.probs) {
          if (typeof r === "number") flat.push(r);
          else flat.push(...r);
        }
        probs.set(flat);
        target = { probs };
      }
      const zc = await engine.crossEntropy(buf, target, { ...c.options, grad: true });
      compareCrossEntropy(`${c.name} [zero-copy]`, c.logits, zc, want, "float32");
      assertClose(buf, c.logits, { atol: 0, rtol: 0 }, `${c.name}: engine logits untouched`);
      assert.ok(zc.grad instanceof Float32Array);
      engine.free(zc.grad); // the gradient is a block of engine memory (free refuses anything else)
      const inpl = await engine.crossEntropy(buf, target, { ...c.options, grad: true, inplace: true });
      assert.equal(inpl.grad, buf);
      compareCrossEntropy(`${c.name} [zero-copy inplace]`, c.logits, inpl, want, "float32");
      engine.free(buf);
      if (probs !== null) engine.free(probs);
      assert.equal(engine.memoryStats().bytesInUse, 0, `${c.name}: every block and temporary was freed`);
    });
  }
}
