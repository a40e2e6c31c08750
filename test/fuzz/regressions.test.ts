/**
 * Regression cases for the bugs users have filed against other fused cross-entropy kernels,
 * on every public path:
 * - reduction "none" with a non-uniform upstream gradient and an ignoreIndex (a valid class):
 *   the tfjs ops must give the gradient of the weighted sum Σ_i c_i·L_i, not of the plain sum;
 * - class weights combined with label smoothing: PyTorch's loss (the smoothing term weighted by
 *   w_j, the mean divided by Σ w[y_i]) and gradient, from the PyTorch fixtures;
 * - zLoss 0 means exactly no z-loss term: bit-identical to leaving zLoss out, even where
 *   lse = ±Infinity (0·∞ would be NaN).
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs"; // registers the cpu backend and every op's gradient
import { crossEntropy as tfCrossEntropy, linearCrossEntropy as tfLinearCrossEntropy } from "../../src/adapters/tfjs.js";
import { crossEntropy, type CrossEntropyOptions, init, linearCrossEntropy, logSoftmax, softmax } from "../../src/index.js";
import { label, MATRIX, runnerFor } from "../conformance/matrix.js";
import { assertClose } from "../helpers/close.js";
import { torchFixtures } from "../helpers/fixtures.js";
import { genTargets, genValues } from "../helpers/gen.js";
import { headGradients, headLogits } from "./head.js";
import { checkAgainstTorch, infiniteMax } from "./torch.js";

/** Every row of the conformance matrix: the backends, and the engines at 1, 2 and 3 threads. */
const matrix = MATRIX.map((row) => ({ name: label(row), row, run: runnerFor(row) }));

before(async () => {
  assert.equal(await init(), true);
  tf.enableProdMode();
  await tf.setBackend("cpu");
});

describe("regression: reduction none, a non-uniform upstream gradient and an ignoreIndex (tfjs ops)", () => {
  const n = 6;
  const d = 4;
  const v = 11;
  const ignoreIndex = 3; // a valid class: rows whose target is 3 are ignored
  const target = Int32Array.from([3, 0, 7, 3, 10, 5]);
  const up = [1, 2, 0.5, -1, 0, 3]; // non-uniform, a zero, a negative, and on ignored rows too
  const options = { reduction: "none" as const, ignoreIndex, labelSmoothing: 0.1, zLoss: 1e-3 };
  const logits = Float64Array.from(new Float32Array(genValues(n * v, 91, 3)));

  /** Row i of the reference's per-token gradient times up[i]: the gradient of Σ_i up_i·L_i. */
  function weightedGrad(x: Float64Array, o: CrossEntropyOptions): Float64Array {
    const g = crossEntropy(x, target, { ...o, ...options, classes: v, grad: true, backend: "reference" }).grad!;
    return Float64Array.from(g, (val, k) => val * up[Math.floor(k / v)]!);
  }

  it("crossEntropy op: the logits' gradient is Σ_i c_i·dL_i, ignored rows zero", () => {
    const x = tf.tensor2d(new Float32Array(logits), [n, v]);
    const c = tf.tensor1d(up);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tfCrossEntropy(t as tf.Tensor2D, target, options), c)))(x);
    const want = weightedGrad(logits, {});
    assertClose(g.dataSync(), want, { atol: 1e-6, rtol: 1e-4 }, "tfjs crossEntropy weighted-sum grad");
    for (const i of [0, 3]) assert.ok(g.dataSync().slice(i * v, (i + 1) * v).every((val) => val === 0), `ignored row ${i} is zero`);
    tf.dispose([x, c, g]);
  });

  it("linearCrossEntropy op: the gradients of hidden, weight and bias are those of Σ_i c_i·L_i", () => {
    const hidden = Float64Array.from(new Float32Array(genValues(n * d, 92, 1.5)));
    const weight = Float64Array.from(new Float32Array(genValues(v * d, 93, 1)));
    const bias = Float64Array.from(new Float32Array(genValues(v, 94, 0.5)));
    const head = { n, d, v, hidden, weight, bias };
    const { gH, gW, gB } = headGradients(head, weightedGrad(headLogits(head), {}));
    const h = tf.tensor2d(new Float32Array(hidden), [n, d]);
    const w = tf.tensor2d(new Float32Array(weight), [v, d]);
    const b = tf.tensor1d(new Float32Array(bias));
    const c = tf.tensor1d(up);
    const grads = tf.grads((hh: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(tfLinearCrossEntropy(hh as tf.Tensor2D, ww as tf.Tensor2D, target, { ...options, bias: bb as tf.Tensor1D }), c)),
    )([h, w, b]);
    const tol = { atol: 2e-5, rtol: 1e-4 };
    assertClose(grads[0]!.dataSync(), gH, tol, "gradHidden");
    assertClose(grads[1]!.dataSync(), gW, tol, "gradWeight");
    assertClose(grads[2]!.dataSync(), gB, tol, "gradBias");
    tf.dispose([h, w, b, c, ...grads]);
  });
});

describe("regression: class weights with label smoothing, against PyTorch on every backend", () => {
  const cases = torchFixtures().filter((c) => c.options.weight !== undefined && (c.options.labelSmoothing ?? 0) > 0);
  it("has the fixtures (index and probability targets, every reduction, ignoreIndex)", () => {
    assert.ok(cases.length >= 30, `${cases.length} cases`);
    assert.ok(cases.some((c) => c.name.startsWith("ignore/valid-class")));
  });
  for (const c of cases) {
    it(c.name, async () => {
      for (const { name, row, run } of matrix) {
        for (const dtype of row.dtypes) {
          const f32 = dtype === "float32";
          const x = f32 ? new Float32Array(c.logits) : Float64Array.from(c.logits);
          checkAgainstTorch(`${name} [${dtype}] ${c.name}`, c, await run.crossEntropy(x, c.target, { ...c.options, grad: true }), f32, true);
        }
      }
      if (c.target instanceof Int32Array) {
        const opts = { ...c.options };
        delete opts.classes; // the op takes V from the tensor
        const got = tfCrossEntropy(tf.tensor2d(new Float32Array(c.logits), [c.n, c.v]), c.target, opts);
        const want = c.want.loss ?? c.want.rowLoss;
        assertClose(c.want.loss === null ? got.dataSync() : got.dataSync()[0]!, want, { atol: 1e-5, rtol: 2e-6 }, `tfjs ${c.name}`);
        got.dispose();
      }
    });
  }
});

describe("regression: zLoss 0 is exactly no z-loss term", () => {
  // Rows: finite; all -Infinity but the target's... (lse = -Infinity); a -Infinity mask; +Infinity.
  const v = 5;
  const rows = [
    [0.5, -1, 2, 0.25, 1],
    [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity],
    [1, -Infinity, 0, -Infinity, 3],
    [Infinity, 0, 1, 2, 3],
    [1e4, -1e4, 0, 30, -30],
  ];
  const logits = Float64Array.from(rows.flat());
  const target = [2, 0, 4, 1, 3];
  const same = (a: number | ArrayLike<number>, b: number | ArrayLike<number>, label: string) => {
    const x = typeof a === "number" ? [a] : Array.from(a);
    const y = typeof b === "number" ? [b] : Array.from(b);
    assert.equal(x.length, y.length, label);
    x.forEach((xi, i) => assert.ok(Object.is(xi, y[i]), `${label} at ${i}: ${xi} with zLoss 0, ${y[i]} without`));
  };
  for (const reduction of ["mean", "sum", "none"] as const) {
    for (const extra of [{}, { labelSmoothing: 0.1, weight: [1, 2, 0.5, 1, 3] }, { softcap: 5 }] as CrossEntropyOptions[]) {
      it(`crossEntropy on every backend and engine, ${reduction} ${JSON.stringify(extra)}`, async () => {
        for (const { name, row, run } of matrix) {
          for (const dtype of row.dtypes) {
            const make = () => (dtype === "float32" ? new Float32Array(logits) : Float64Array.from(logits));
            const o = { classes: v, reduction, grad: true, ...extra };
            const a = await run.crossEntropy(make(), target, { ...o, zLoss: 0 });
            const b = await run.crossEntropy(make(), target, o);
            const tag = `${name} [${dtype}]`;
            same(a.loss, b.loss, `${tag} loss`);
            same(a.lse, b.lse, `${tag} lse`);
            same(a.grad!, b.grad!, `${tag} grad`);
          }
        }
      });
    }
  }
  it("PyTorch's loss without a z-term, with zLoss 0, on every backend (fixtures)", async () => {
    const cases = torchFixtures().filter((c) => c.options.zLoss === undefined && c.name.startsWith("grid/"));
    assert.ok(cases.length >= 40);
    for (const c of cases) {
      for (const { name, run } of matrix) {
        checkAgainstTorch(`${name} ${c.name} zLoss 0`, c, await run.crossEntropy(new Float32Array(c.logits), c.target, { ...c.options, zLoss: 0, grad: true }), true, true);
      }
    }
  });
  it("linearCrossEntropy (sync and engine) and the tfjs ops: zLoss 0 is bit-identical to no zLoss", async () => {
    const n = 4;
    const d = 3;
    const hidden = new Float32Array(genValues(n * d, 95, 2));
    const weight = new Float32Array(genValues(v * d, 96, 1));
    const bias = new Float32Array([0, -Infinity, 0.5, 0, -Infinity]);
    const t = genTargets(n, 97, v).map((y) => (y === 1 || y === 4 ? 0 : y));
    for (const backend of ["reference", "js", "wasm"]) {
      const a = linearCrossEntropy(hidden, weight, t, { bias, zLoss: 0, grad: true, backend });
      const b = linearCrossEntropy(hidden, weight, t, { bias, grad: true, backend });
      same(a.loss, b.loss, `${backend} linear loss`);
      same(a.gradHidden!, b.gradHidden!, `${backend} linear gradHidden`);
      same(a.gradWeight!, b.gradWeight!, `${backend} linear gradWeight`);
    }
    for (const { name, run } of matrix) {
      const e = await run.engine();
      if (e === null) continue;
      const a = await e.linearCrossEntropy(hidden, weight, t, { bias, zLoss: 0, grad: true });
      const b = await e.linearCrossEntropy(hidden, weight, t, { bias, grad: true });
      same(a.loss, b.loss, `${name} linear loss`);
      same(a.gradWeight!, b.gradWeight!, `${name} linear gradWeight`);
    }
    const x = tf.tensor2d(new Float32Array(logits), [rows.length, v]);
    const ga = tf.grad((u: tf.Tensor) => tfCrossEntropy(u as tf.Tensor2D, target, { zLoss: 0, reduction: "sum" }))(x);
    const gb = tf.grad((u: tf.Tensor) => tfCrossEntropy(u as tf.Tensor2D, target, { reduction: "sum" }))(x);
    same(ga.dataSync(), gb.dataSync(), "tfjs crossEntropy grad");
    tf.dispose([x, ga, gb]);
  });
});

describe("regression: the wasm lse of rows whose max, NaN aside, is ±Infinity", () => {
  // f32x4.pmax skips NaN: a NaN among −Infinity masks gave lse −Infinity (PyTorch: NaN), and a row
  // holding +Infinity gave NaN (torch.logsumexp: +Infinity). Every row of these cases is checked.
  const cases = torchFixtures("torch-nonfinite.json").filter((c) => Array.from({ length: c.n }, (_, i) => infiniteMax(c, i)).some(Boolean));
  it("has such rows to check", () => assert.ok(cases.length >= 5, `${cases.length} cases`));
  for (const c of cases) {
    it(`every wasm row of the matrix matches PyTorch, lse included: ${c.name}`, async () => {
      for (const { name, run } of matrix.filter((m) => m.row.backend === "wasm")) {
        for (const grad of [false, true]) {
          const got = await run.crossEntropy(new Float32Array(c.logits), c.target, { ...c.options, grad });
          checkAgainstTorch(`${name} [float32${grad ? ", grad" : ""}] ${c.name}`, c, got, true, grad);
        }
      }
    });
  }
});

describe("regression: softmax and logSoftmax of a row holding +Infinity are NaN, as in PyTorch", () => {
  // They were computed as exp(c − lse) with lse = +Infinity: NaN at the +Infinity, 0 (or −Infinity) elsewhere.
  const cases = torchFixtures("torch-nonfinite.json").filter((c) => c.want.softmax !== null);
  it("has cases with PyTorch's softmax, +Infinity rows among them", () => {
    assert.ok(cases.length >= 8, `${cases.length} cases`);
    assert.ok(cases.some((c) => c.want.lse.includes(Infinity)));
  });
  for (const backend of ["reference", "js", "wasm"]) {
    for (const c of cases) {
      it(`${backend}: ${c.name}`, () => {
        const o = { classes: c.v, backend, ...(c.options.softcap !== undefined ? { softcap: c.options.softcap } : {}) };
        assertClose(softmax(new Float32Array(c.logits), o), c.want.softmax!, { atol: 1e-6, rtol: 1e-5 }, `${backend} softmax ${c.name}`);
        assertClose(logSoftmax(new Float32Array(c.logits), o), c.want.logSoftmax!, { atol: 2e-5, rtol: 1e-5 }, `${backend} logSoftmax ${c.name}`);
      });
    }
  }
});

describe("regression: mean with D = 0 while tokens count, against PyTorch on every backend and engine", () => {
  // The counted targets' class weights are all 0. PyTorch: NaN without z-loss (its target term is
  // 0/0, even with smoothing, which gave +Infinity here), +Infinity with z-loss; counted rows'
  // gradient NaN (it mixed ±Infinity and NaN here), the ignored row's zero.
  const cases = torchFixtures().filter((c) => c.name.startsWith("weight/zero-denominator/") || c.name === "weight/all-zero/mean");
  it("has the fixtures: plain, smoothing, z-loss, both, and all weights zero", () => {
    assert.equal(cases.length, 5);
    assert.deepEqual(cases.map((c) => c.want.loss), [NaN, NaN, NaN, Infinity, Infinity]);
  });
  for (const c of cases) {
    it(c.name, async () => {
      for (const { name, row, run } of matrix) {
        for (const dtype of row.dtypes) {
          const f32 = dtype === "float32";
          for (const grad of [false, true]) {
            const x = f32 ? new Float32Array(c.logits) : Float64Array.from(c.logits);
            checkAgainstTorch(`${name} [${dtype}${grad ? ", grad" : ""}] ${c.name}`, c, await run.crossEntropy(x, c.target, { ...c.options, grad }), f32, grad);
          }
        }
      }
      if (c.target instanceof Int32Array) {
        const opts = { ...c.options };
        delete opts.classes; // the op takes V from the tensor
        const got = tfCrossEntropy(tf.tensor2d(new Float32Array(c.logits), [c.n, c.v]), c.target, opts);
        assert.ok(Object.is(got.dataSync()[0], c.want.loss), `tfjs ${c.name}: loss ${got.dataSync()[0]}, want ${c.want.loss}`);
        got.dispose();
      }
    });
  }
});
