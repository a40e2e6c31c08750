/**
 * Differential fuzzing of crossEntropy through the public API: each drawn case runs on the
 * reference, js and wasm backends (float32 and float64 logits) and on the engine (js; wasm at
 * 1, 2 and 3 threads), and every output is compared with the float64 reference on float64
 * logits, with the conformance suite's tolerances. See gen.ts for the case space and the seed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createEngine, crossEntropy, type CrossEntropyOptions, type CrossEntropyOutput, type Engine, init, type TargetInput } from "../../src/index.js";
import { compareWithReference, type ConformanceCase } from "../conformance/cases.js";
import { assertClose } from "../helpers/close.js";
import { ceCase, ceInputs, check, infiniteMaxRow } from "./gen.js";

type Run = (x: Float32Array | Float64Array, t: TargetInput, o: CrossEntropyOptions) => CrossEntropyOutput | Promise<CrossEntropyOutput>;

const engines: Engine[] = [];
const runners: [string, Run][] = [];

before(async () => {
  assert.equal(await init(), true, "WebAssembly SIMD is available here");
  for (const backend of ["reference", "js", "wasm"]) runners.push([backend, (x, t, o) => crossEntropy(x, t, { ...o, backend })]);
  const specs: ["js" | "wasm", number][] = [["js", 1], ["wasm", 1], ["wasm", 2], ["wasm", 3]];
  for (const [backend, threads] of specs) {
    const e = await createEngine({ backend, threads });
    engines.push(e);
    runners.push([`engine ${backend} ${threads}t`, (x, t, o) => e.crossEntropy(x, t, o)]);
  }
});
after(() => {
  for (const e of engines) e.dispose();
});

/** Run one case on every runner and dtype against the reference. */
async function differential(c: ReturnType<typeof ceInputs>, grad: boolean, inplace: boolean): Promise<void> {
  const opts = { ...c.options, grad, ...(grad && inplace ? { inplace: true } : {}) };
  const want = crossEntropy(c.logits, c.target, { ...opts, inplace: false, backend: "reference" });
  const v = c.options.classes!;
  const n = c.logits.length / v;
  for (const [name, run] of runners) {
    // The wasm kernel's lse of rows whose max is ±Infinity: test/fuzz/open-wasm-infinite-max-lse.test.ts.
    const openRows = name.includes("wasm") ? Array.from({ length: n }, (_, i) => infiniteMaxRow(c.logits, v, i, c.options.softcap)) : null;
    for (const f32 of [true, false]) {
      const x = f32 ? new Float32Array(c.logits) : Float64Array.from(c.logits);
      const before = Float64Array.from(x);
      const got = await run(x, c.target, opts);
      const label = `${name} [${f32 ? "f32" : "f64"}${grad ? ", grad" : ""}${opts.inplace === true ? ", inplace" : ""}]`;
      assert.equal(got.lse instanceof Float32Array, f32, `${label}: lse dtype follows the logits`);
      if (opts.inplace === true) assert.equal(got.grad, x, `${label}: inplace returns the logits buffer`);
      else assertClose(x, before, { atol: 0, rtol: 0 }, `${label}: logits left untouched`);
      if (!grad) assert.equal(got.grad, undefined, `${label}: no gradient asked`);
      const cc: ConformanceCase = { name: label, logits: c.logits, target: c.target, options: c.options };
      if (openRows !== null && openRows.some(Boolean)) {
        const keep = (a: ArrayLike<number>) => Float64Array.from({ length: n }, (_, i) => (openRows[i] ? 0 : a[i]!));
        compareWithReference(label, cc, { ...got, lse: keep(got.lse) }, { ...want, lse: keep(want.lse) }, f32);
      } else {
        compareWithReference(label, cc, got, want, f32);
      }
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
