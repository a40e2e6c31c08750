/**
 * NaN and ±Infinity logits against PyTorch (fixtures/torch-nonfinite.json, made by
 * scripts/make_fixtures.py), on every path a user reaches through the public API: the default
 * backend before `init()`, the js backend on float32, float64 and number[] input, the js engine,
 * the reference, the wasm backend (float32) and the wasm engine at 1, 2 and 3 threads; and the js
 * fused linear head, softmax, logSoftmax and perplexity on the js path.
 *
 * PyTorch: a NaN anywhere in a row makes its lse, loss and gradient row NaN; +Infinity makes lse
 * +Infinity and the loss and gradient row NaN (inf − inf in the softmax). An ignored token keeps
 * a zero loss and a zero gradient row (see the fixture generator for PyTorch's 0·NaN there).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import {
  createEngine,
  crossEntropy,
  type Engine,
  init,
  linearCrossEntropy,
  logSoftmax,
  perplexity,
  softmax,
} from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { torchFixtures } from "../helpers/fixtures.js";
import { checkAgainstTorch, runCase } from "./torch.js";

const cases = torchFixtures("torch-nonfinite.json");

describe("NaN and ±Infinity: the default backend before init()", () => {
  // First in this file: nothing has called init() yet, so "auto" is the js backend.
  it("the issue's example: a NaN before any finite logit gives NaN (was 1.2412)", () => {
    const out = crossEntropy(new Float32Array([NaN, 1, 0.1]), [2], { classes: 3 });
    assert.ok(Number.isNaN(out.loss as number), `loss ${String(out.loss)}`);
    assert.ok(Number.isNaN(out.lse[0]!), `lse ${out.lse[0]}`);
    assert.ok(Number.isNaN(perplexity(new Float32Array([NaN, 1, 0.1]), [2], { classes: 3 })));
    for (const x of softmax(new Float32Array([NaN, 1, 0.1]), { classes: 3 })) assert.ok(Number.isNaN(x), "softmax of a NaN row is NaN");
    for (const x of logSoftmax([NaN, 1, 0.1], { classes: 3 })) assert.ok(Number.isNaN(x), "logSoftmax of a NaN row is NaN");
  });
  it("the issue's example: +Infinity at a class that is not the target gives loss NaN, lse +Infinity (was +Infinity)", () => {
    const out = crossEntropy(new Float32Array([Infinity, 1, 0.1]), [2], { classes: 3 });
    assert.ok(Number.isNaN(out.loss as number), `loss ${String(out.loss)}`);
    assert.equal(out.lse[0], Infinity);
  });
  for (const c of cases) it(`matches PyTorch: ${c.name}`, () => runCase("auto(js)", c, (x, t, o) => crossEntropy(x, t, o)));
});

describe("NaN and ±Infinity: reference and js backends", () => {
  for (const c of cases) {
    it(`reference matches PyTorch: ${c.name}`, () => runCase("reference", c, (x, t, o) => crossEntropy(x, t, { ...o, backend: "reference" })));
    it(`js matches PyTorch: ${c.name}`, async () => {
      await runCase("js", c, (x, t, o) => crossEntropy(x, t, { ...o, backend: "js" }));
      // in place: the gradient overwrites the logits and is the same
      const x = new Float32Array(c.logits);
      const got = crossEntropy(x, c.target, { ...c.options, backend: "js", grad: true, inplace: true });
      assert.equal(got.grad, x);
      checkAgainstTorch(`js ${c.name} [f32, inplace]`, c, got, true, true);
    });
  }
});

describe("NaN and ±Infinity: engines and wasm", () => {
  const engines = new Map<string, Promise<Engine>>();
  const engine = (backend: "js" | "wasm", threads: number): Promise<Engine> => {
    const key = `${backend}/${threads}`;
    let e = engines.get(key);
    if (e === undefined) engines.set(key, (e = createEngine({ backend, threads })));
    return e;
  };
  after(async () => {
    for (const e of engines.values()) (await e).dispose();
  });
  for (const c of cases) {
    it(`js engine matches PyTorch: ${c.name}`, async () => {
      const e = await engine("js", 1);
      await runCase("engine js", c, (x, t, o) => e.crossEntropy(x, t, o));
    });
    it(`wasm matches PyTorch: ${c.name}`, async () => {
      assert.equal(await init(), true);
      await runCase("wasm", c, (x, t, o) => crossEntropy(x, t, { ...o, backend: "wasm" }), { f32Only: true });
    });
    for (const threads of [1, 2, 3]) {
      it(`wasm engine ${threads}t matches PyTorch: ${c.name}`, async () => {
        const e = await engine("wasm", threads);
        await runCase(`engine wasm ${threads}t`, c, (x, t, o) => e.crossEntropy(x, t, o), { f32Only: true });
      });
    }
  }
});

describe("NaN and ±Infinity: the js fused linear head", () => {
  // hidden (N=4, D=2), weight (V=3, D=2): row 0 finite, row 1 NaN (a whole NaN row of logits),
  // row 2 +Infinity·weight (±Infinity logits, lse +Infinity), row 3 a NaN in one hidden entry.
  const hidden = [0.5, -1, NaN, NaN, Infinity, 0, 0.25, NaN];
  const weight = [1, 0.5, -2, 1, 0.75, -0.25];
  const target = [0, 1, 2, 0];
  const logits = new Float64Array(4 * 3);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) logits[i * 3 + j] = hidden[i * 2]! * weight[j * 2]! + hidden[i * 2 + 1]! * weight[j * 2 + 1]!;
  for (const reduction of ["mean", "none"] as const) {
    it(`matches crossEntropy on the materialised logits (${reduction}), with and without a gradient`, () => {
      const want = crossEntropy(logits, target, { classes: 3, reduction, backend: "reference" });
      assert.deepEqual(Array.from(want.lse, (x) => (Number.isNaN(x) ? "NaN" : x === Infinity ? "+Inf" : "finite")), ["finite", "NaN", "+Inf", "NaN"]);
      for (const f32 of [true, false]) {
        for (const grad of [false, true]) {
          const h = f32 ? new Float32Array(hidden) : Float64Array.from(hidden);
          const w = f32 ? new Float32Array(weight) : Float64Array.from(weight);
          const got = linearCrossEntropy(h, w, target, { reduction, grad, backend: "js" });
          const tol = f32 ? { atol: 2e-6, rtol: 2e-6 } : { atol: 1e-12, rtol: 1e-12 };
          const label = `linear js ${reduction} [${f32 ? "f32" : "f64"}${grad ? ", grad" : ""}]`;
          if (typeof want.loss === "number") assertClose(got.loss as number, want.loss, tol, `${label} loss`);
          else assertClose(got.loss as ArrayLike<number>, want.loss, tol, `${label} per-token loss`);
          assertClose(got.lse, want.lse, tol, `${label} lse`);
        }
      }
    });
  }
});
