/**
 * crossEntropy on every row of the conformance matrix against the reference backend: each case
 * with a gradient, without one, and in place, for each dtype the row runs; outputs keep the
 * input's dtype and leave the inputs untouched. Executor rows also run zero-copy: logits (and
 * probabilities) in engine memory, the gradient returned in engine memory.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crossEntropy, type CrossEntropyOutput } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { conformanceCases, type ConformanceCase } from "./cases.js";
import { crossEntropyTolerance, label, MATRIX, runnerFor, type Dtype } from "./matrix.js";

function compare(name: string, c: ConformanceCase, got: CrossEntropyOutput, want: CrossEntropyOutput, dtype: Dtype): void {
  const tol = crossEntropyTolerance(dtype, c.logits);
  if (typeof want.loss === "number") assertClose(got.loss as number, want.loss, tol.value, `${name} loss`);
  else assertClose(got.loss as ArrayLike<number>, want.loss, tol.value, `${name} per-token loss`);
  assertClose(got.lse, want.lse, tol.value, `${name} lse`);
  assert.equal(got.grad === undefined, want.grad === undefined, `${name}: grad presence`);
  if (want.grad !== undefined) assertClose(got.grad!, want.grad, tol.grad, `${name} grad`);
}

const cases = conformanceCases();

for (const row of MATRIX) {
  const run = runnerFor(row);
  for (const c of cases) {
    test(`${label(row)} conforms: ${c.name}`, async () => {
      const want = crossEntropy(c.logits, c.target, { ...c.options, grad: true, backend: "reference" });
      const wantNoGrad = crossEntropy(c.logits, c.target, { ...c.options, backend: "reference" });
      for (const dtype of row.dtypes) {
        const f32 = dtype === "float32";
        const tag = `${c.name} [${dtype}]`;
        const x = f32 ? new Float32Array(c.logits) : Float64Array.from(c.logits);
        const before = Float64Array.from(x);
        const got = await run.crossEntropy(x, c.target, { ...c.options, grad: true });
        assert.equal(got.lse instanceof Float32Array, f32, `${tag}: lse dtype follows the logits`);
        assert.equal(got.grad instanceof Float32Array, f32, `${tag}: grad dtype follows the logits`);
        assertClose(x, before, { atol: 0, rtol: 0 }, `${tag}: logits left untouched`);
        compare(tag, c, got, want, dtype);
        compare(`${tag} no grad`, c, await run.crossEntropy(x, c.target, { ...c.options }), wantNoGrad, dtype);
        const inplace = await run.crossEntropy(x, c.target, { ...c.options, grad: true, inplace: true });
        assert.equal(inplace.grad, x, `${tag}: inplace returns the logits buffer`);
        compare(`${tag} inplace`, c, inplace, want, dtype);
      }
      const engine = await run.engine();
      if (engine === null || !row.dtypes.includes("float32")) return;
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
      compare(`${c.name} [zero-copy]`, c, zc, want, "float32");
      assertClose(buf, c.logits, { atol: 0, rtol: 0 }, `${c.name}: engine logits untouched`);
      assert.ok(zc.grad instanceof Float32Array);
      engine.free(zc.grad); // the gradient is a block of engine memory (free refuses anything else)
      const inpl = await engine.crossEntropy(buf, target, { ...c.options, grad: true, inplace: true });
      assert.equal(inpl.grad, buf);
      compare(`${c.name} [zero-copy inplace]`, c, inpl, want, "float32");
      engine.free(buf);
      if (probs !== null) engine.free(probs);
      assert.equal(engine.memoryStats().bytesInUse, 0, `${c.name}: every block and temporary was freed`);
    });
  }
}
