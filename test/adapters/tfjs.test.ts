/**
 * The tfjs adapter: its loss and gradient against tfjs's own softmaxCrossEntropy and against
 * xent's float64 reference, every target form, every reduction, and no tensor leaks across
 * optimizer steps.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs"; // registers the cpu backend and every op's gradient
import { crossEntropy } from "../../src/adapters/tfjs.js";
import { crossEntropy as coreCrossEntropy } from "../../src/index.js";
import { rng } from "../helpers/gen.js";

function randomCase(seed: number, n: number, v: number, scale = 3): { logits: Float32Array; target: Int32Array } {
  const r = rng(seed);
  const logits = new Float32Array(n * v).map(() => (r() * 2 - 1) * scale);
  const target = new Int32Array(n).map(() => Math.floor(r() * v));
  return { logits, target };
}

function close(got: ArrayLike<number> | number, want: ArrayLike<number> | number, atol: number, rtol: number, label: string): void {
  const g = typeof got === "number" ? [got] : Array.from(got);
  const w = typeof want === "number" ? [want] : Array.from(want);
  assert.equal(g.length, w.length, `${label}: length ${g.length}, want ${w.length}`);
  for (let i = 0; i < w.length; i++) {
    const d = Math.abs(g[i]! - w[i]!);
    if (!(d <= atol + rtol * Math.abs(w[i]!))) assert.fail(`${label}[${i}]: got ${g[i]}, want ${w[i]} (|diff| ${d})`);
  }
}

before(async () => {
  tf.enableProdMode();
  await tf.setBackend("cpu");
});

describe("tfjs adapter: against tf.losses.softmaxCrossEntropy", () => {
  for (const [n, v, ls] of [[7, 5, 0], [16, 97, 0], [9, 33, 0.1]] as const) {
    it(`mean loss and gradient agree, N=${n} V=${v} labelSmoothing=${ls}`, () => {
      const { logits, target } = randomCase(n * 1000 + v, n, v);
      const x = tf.tensor2d(logits, [n, v]);
      const oneHot = tf.oneHot(tf.tensor1d(target, "int32"), v);
      const ours = tf.valueAndGrad((l: tf.Tensor) => crossEntropy(l as tf.Tensor2D, target, { labelSmoothing: ls }) as tf.Scalar)(x);
      const theirs = tf.valueAndGrad((l: tf.Tensor) => tf.losses.softmaxCrossEntropy(oneHot, l, undefined, ls) as tf.Scalar)(x);
      close(ours.value.dataSync(), theirs.value.dataSync(), 1e-5, 1e-5, "loss");
      close(ours.grad.dataSync(), theirs.grad.dataSync(), 1e-6, 1e-4, "grad");
      tf.dispose([x, oneHot, ours.value, ours.grad, theirs.value, theirs.grad]);
    });
  }

  it('reduction "none": per-token losses and a per-row upstream gradient', () => {
    const n = 6;
    const v = 11;
    const { logits, target } = randomCase(42, n, v);
    const x = tf.tensor2d(logits, [n, v]);
    const oneHot = tf.oneHot(tf.tensor1d(target, "int32"), v);
    const rowScale = tf.tensor1d([1, -2, 0.5, 3, 0, 1.5]);
    const ours = tf.valueAndGrad((l: tf.Tensor) => tf.sum(tf.mul(crossEntropy(l as tf.Tensor2D, target, { reduction: "none" }), rowScale)) as tf.Scalar)(x);
    const theirs = tf.valueAndGrad((l: tf.Tensor) =>
      tf.sum(tf.mul(tf.losses.softmaxCrossEntropy(oneHot, l, undefined, 0, tf.Reduction.NONE), rowScale)) as tf.Scalar,
    )(x);
    close(ours.value.dataSync(), theirs.value.dataSync(), 1e-5, 1e-5, "loss");
    close(ours.grad.dataSync(), theirs.grad.dataSync(), 1e-6, 1e-4, "grad");
    const perToken = crossEntropy(x, target, { reduction: "none" });
    assert.deepEqual(perToken.shape, [n]);
    close(perToken.dataSync(), tf.losses.softmaxCrossEntropy(oneHot, x, undefined, 0, tf.Reduction.NONE).dataSync(), 1e-5, 1e-5, "per-token");
  });
});

describe("tfjs adapter: against xent's float64 reference", () => {
  const cases = [
    { name: "sum with ignoreIndex", options: { reduction: "sum" as const, ignoreIndex: 3 } },
    { name: "mean with weights and z-loss", options: { weight: Array.from({ length: 13 }, (_, j) => 0.5 + (j % 4)), zLoss: 1e-3 } },
    { name: "softcap and smoothing", options: { softcap: 2.5, labelSmoothing: 0.2 } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const n = 10;
      const v = 13;
      const { logits, target } = randomCase(7, n, v, 5);
      const want = coreCrossEntropy(Float64Array.from(logits), target, { ...c.options, classes: v, grad: true, backend: "reference" });
      const upstream = 1.75; // d(1.75·loss)/dx = 1.75·grad: dy really scales the gradient
      const got = tf.valueAndGrad((l: tf.Tensor) => tf.mul(crossEntropy(l as tf.Tensor2D, target, c.options), upstream) as tf.Scalar)(tf.tensor2d(logits, [n, v]));
      close(got.value.dataSync(), upstream * (want.loss as number), 1e-5, 1e-5, "loss");
      close(got.grad.dataSync(), want.grad!.map((g) => g * upstream), 1e-6, 1e-4, "grad");
    });
  }

  it("accepts an int32 tensor, an Int32Array and a number[] as target", () => {
    const { logits, target } = randomCase(9, 5, 7);
    const x = tf.tensor2d(logits, [5, 7]);
    const want = coreCrossEntropy(logits, target, { classes: 7 }).loss as number;
    for (const t of [tf.tensor1d(target, "int32"), target, Array.from(target)]) {
      close(crossEntropy(x, t).dataSync(), Math.fround(want), 0, 0, "loss"); // the same kernel, rounded to a float32 scalar
    }
  });
});

describe("tfjs adapter: memory", () => {
  it("optimizer.minimize leaks no tensors between steps, and the loss falls", () => {
    const n = 8;
    const v = 12;
    const { logits, target } = randomCase(3, n, v);
    const w = tf.variable(tf.tensor2d(logits, [n, v]));
    const tt = tf.tensor1d(target, "int32");
    const opt = tf.train.adam(0.1);
    const losses: number[] = [];
    let counts: number[] = [];
    for (let step = 0; step < 6; step++) {
      const loss = opt.minimize(() => crossEntropy(w as unknown as tf.Tensor2D, tt) as tf.Scalar, true)!;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
      counts.push(tf.memory().numTensors);
    }
    counts = counts.slice(1); // adam creates its slot variables on the first step
    assert.ok(counts.every((c) => c === counts[0]), `tensor counts drift: ${counts.join(", ")}`);
    assert.ok(losses[5]! < losses[0]!, `loss did not fall: ${losses.join(", ")}`);
    opt.dispose();
    tf.dispose([w, tt]);
  });

  it("tf.variableGrads leaks no tensors, with every reduction", () => {
    const { logits, target } = randomCase(4, 6, 9);
    const w = tf.variable(tf.tensor2d(logits, [6, 9]));
    const before = tf.memory().numTensors;
    for (const reduction of ["mean", "sum", "none"] as const) {
      for (let i = 0; i < 3; i++) {
        const { value, grads } = tf.variableGrads(() => tf.sum(crossEntropy(w as unknown as tf.Tensor2D, target, { reduction })) as tf.Scalar);
        assert.deepEqual(grads[w.name]!.shape, [6, 9]);
        tf.dispose([value, ...Object.values(grads)]);
        assert.equal(tf.memory().numTensors, before, `${reduction}: tensors leaked`);
      }
    }
    // a forward pass outside any gradient tape keeps nothing either
    const loss = crossEntropy(w as unknown as tf.Tensor2D, target);
    loss.dispose();
    assert.equal(tf.memory().numTensors, before);
    w.dispose();
  });
});

describe("tfjs adapter: bad input", () => {
  it("names the argument and what was expected", () => {
    const x = tf.zeros([2, 3]) as tf.Tensor2D;
    assert.throws(() => crossEntropy(tf.zeros([6]) as unknown as tf.Tensor2D, [0, 1]), /logits .*expected a 2-D tensor/);
    assert.throws(() => crossEntropy(x, tf.tensor1d([0, 1], "float32")), /target has dtype float32; expected int32/);
    assert.throws(() => crossEntropy(x, [0, 3]), /target\[1\] = 3 is out of range/);
    assert.throws(() => crossEntropy(x, [0, 1], { classes: 3 } as never), /option "classes" is set by the op/);
    x.dispose();
  });
});
