/**
 * The fused linear head as a tfjs op: its loss and its gradients for hidden, weight and bias
 * against the materialised path (tf.matMul then tfjs's own softmaxCrossEntropy, and then
 * xent's crossEntropy op), every reduction, a per-row upstream gradient, and no tensor leaks.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs"; // registers the cpu backend and every op's gradient
import { crossEntropy, linearCrossEntropy } from "../../src/adapters/tfjs.js";
import { assertClose } from "../helpers/close.js";
import { genTargets, genValues } from "../helpers/gen.js";

const tol = { atol: 2e-6, rtol: 1e-4 };

function problem(n: number, d: number, v: number, seed: number) {
  return {
    h: tf.variable(tf.tensor2d(new Float32Array(genValues(n * d, seed, 1)), [n, d])),
    w: tf.variable(tf.tensor2d(new Float32Array(genValues(v * d, seed + 1, 0.5)), [v, d])),
    b: tf.variable(tf.tensor1d(new Float32Array(genValues(v, seed + 2, 0.5)))),
    t: genTargets(n, seed + 3, v),
  };
}

before(async () => {
  tf.enableProdMode();
  await tf.setBackend("cpu");
});

describe("tfjs linearCrossEntropy", () => {
  it("matches tf.matMul + tf.losses.softmaxCrossEntropy: loss and the gradients of hidden, weight and bias", () => {
    const n = 7;
    const d = 5;
    const v = 11;
    const { h, w, b, t } = problem(n, d, v, 1);
    for (const labelSmoothing of [0, 0.1]) {
      const onehot = tf.oneHot(tf.tensor1d(t, "int32"), v);
      const want = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(onehot, tf.add(tf.matMul(h, w, false, true), b), undefined, labelSmoothing, tf.Reduction.MEAN) as tf.Scalar);
      const got = tf.variableGrads(() => linearCrossEntropy(h, w, t, { bias: b, labelSmoothing }) as tf.Scalar);
      assertClose(got.value.dataSync()[0]!, want.value.dataSync()[0]!, tol, `loss ε=${labelSmoothing}`);
      for (const x of [h, w, b]) assertClose(got.grads[x.name]!.dataSync(), want.grads[x.name]!.dataSync(), tol, `grad ${x.name} ε=${labelSmoothing}`);
      tf.dispose([onehot, want.value, got.value, ...Object.values(want.grads), ...Object.values(got.grads)]);
    }
    tf.dispose([h, w, b]);
  });

  it("matches xent's crossEntropy op on materialised logits for every reduction and option (temperature, denominator), with a per-row upstream gradient", () => {
    const n = 9;
    const d = 6;
    const v = 13;
    const { h, w, b, t } = problem(n, d, v, 5);
    t[2] = -100;
    const rowScale = tf.tensor1d(new Float32Array([1, 2, 2, 0, 1, 3, 1, 0.5, 2]));
    const options = { labelSmoothing: 0.05, zLoss: 1e-3, softcap: 3, temperature: 1.4 };
    const runs = [["mean", {}], ["mean", { denominator: 20 }], ["sum", {}], ["none", {}]] as const;
    for (const [reduction, extra] of runs) {
      const head = (loss: tf.Tensor) => (reduction === "none" ? tf.sum(tf.mul(loss, rowScale)) : loss) as tf.Scalar;
      const want = tf.variableGrads(() => head(crossEntropy(tf.add(tf.matMul(h, w, false, true), b) as tf.Tensor2D, t, { ...options, ...extra, reduction })));
      const got = tf.variableGrads(() => head(linearCrossEntropy(h, w, t, { ...options, ...extra, bias: b, reduction })));
      const tag = `${reduction} ${JSON.stringify(extra)}`;
      assertClose(got.value.dataSync()[0]!, want.value.dataSync()[0]!, tol, `${tag} loss`);
      for (const x of [h, w, b]) assertClose(got.grads[x.name]!.dataSync(), want.grads[x.name]!.dataSync(), tol, `${tag} grad ${x.name}`);
      tf.dispose([want.value, got.value, ...Object.values(want.grads), ...Object.values(got.grads)]);
    }
    tf.dispose([h, w, b, rowScale]);
  });

  it("works without a bias, inside optimizer.minimize, and leaks no tensors between steps", () => {
    const { h, w, t } = problem(8, 4, 10, 9);
    const opt = tf.train.adam(0.05);
    const losses: number[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 6; step++) {
      const loss = opt.minimize(() => linearCrossEntropy(h, w, t) as tf.Scalar, true, [h, w])!;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
      counts.push(tf.memory().numTensors);
    }
    assert.ok(counts.slice(1).every((c) => c === counts[1]), `tensor counts drift: ${counts.join(", ")}`);
    assert.ok(losses[5]! < losses[0]!, `loss did not fall: ${losses.join(", ")}`);
    const before = tf.memory().numTensors;
    for (const reduction of ["mean", "none"] as const) {
      const { value, grads } = tf.variableGrads(() => tf.sum(linearCrossEntropy(h, w, t, { reduction })) as tf.Scalar, [h, w]);
      tf.dispose([value, ...Object.values(grads)]);
    }
    assert.equal(tf.memory().numTensors, before, "variableGrads leaked tensors");
    opt.dispose();
    tf.dispose([h, w]);
  });

  it("bad input names the argument", () => {
    const h = tf.zeros([2, 3]) as tf.Tensor2D;
    const w = tf.zeros([4, 3]) as tf.Tensor2D;
    assert.throws(() => linearCrossEntropy(tf.zeros([6]) as unknown as tf.Tensor2D, w, [0, 1]), /tfjs\.linearCrossEntropy: hidden is a tensor of shape \[6\]; expected a 2-D tensor/);
    assert.throws(() => linearCrossEntropy(h, w, [0, 1], { bias: tf.zeros([4, 1]) as unknown as tf.Tensor1D }), /options\.bias is a tensor of shape \[4, 1\]/);
    assert.throws(() => linearCrossEntropy(h, tf.zeros([4, 2]) as tf.Tensor2D, [0, 1]), /linearCrossEntropy: /);
    assert.throws(() => linearCrossEntropy(h, w, [0, 4]), /target\[1\] = 4 is out of range/);
    assert.throws(() => linearCrossEntropy(h, w, [0, 1], { grad: true } as never), /option "grad" is set by the op/);
    tf.dispose([h, w]);
  });
});
