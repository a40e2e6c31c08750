/**
 * Differential fuzzing of the tfjs ops (`xent/tfjs`): the loss and the gradients tfjs computes
 * through crossEntropy and linearCrossEntropy, under an upstream gradient (a random scalar for
 * "mean"/"sum"; a random, non-uniform per-row vector with repeats and zeros for "none"),
 * against the float64 reference: the gradient of Σ_i c_i·L_i is row i of the reference's
 * per-token gradient times c_i, and for the linear head its products with weight and hidden.
 */
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs"; // registers the cpu backend and every op's gradient
import { crossEntropy, linearCrossEntropy } from "../../src/adapters/tfjs.js";
import { crossEntropy as coreCrossEntropy, type CrossEntropyOptions } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { rng } from "../helpers/gen.js";
import { ceCase, ceInputs, check, linearCase, linearInputs } from "./gen.js";
import { headGradients, headLogits } from "./head.js";

before(async () => {
  tf.enableProdMode();
  await tf.setBackend("cpu");
});

/** Upstream gradients: a scalar, or N values drawn from a few (so rows repeat), zeros included. */
function upstream(n: number, none: boolean, seed: number): number[] {
  const r = rng(seed);
  const pool = [0, 1, -0.5, 2, Math.fround(r() * 3)];
  return Array.from({ length: none ? n : 1 }, () => pool[Math.floor(r() * pool.length)]!);
}

/** The reference's loss and its gradient w.r.t. the logits (N, V) of Σ_i c_i·L_i (or c·loss). */
function weightedReference(logits: Float64Array, target: Int32Array, options: CrossEntropyOptions, c: number[]) {
  const v = options.classes as number;
  const none = options.reduction === "none";
  const out = coreCrossEntropy(logits, target, { ...options, grad: true, backend: "reference" });
  const g = Float64Array.from(out.grad!, (x, k) => x * c[none ? Math.floor(k / v) : 0]!);
  return { loss: out.loss, grad: g };
}

const tol = (x: ArrayLike<number> | number) => {
  const a = typeof x === "number" ? [x] : x;
  let m = 1;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!)) m = Math.max(m, Math.abs(a[i]!));
  return { atol: 2e-5 * m, rtol: 1e-4 };
};

describe("fuzz: the tfjs ops against the float64 reference", () => {
  it("crossEntropy: loss and the logits' gradient under any upstream gradient", async () => {
    const arb = ceCase({ specials: false }).map((c) => ({ ...c, probs: false }));
    await check("tfjs crossEntropy", arb, 40, (c) => {
      const { logits, target, options } = ceInputs(c);
      const { classes, ...opts } = options;
      const n = logits.length / classes!;
      const up = upstream(n, c.reduction === "none", c.seed);
      const want = weightedReference(logits, target as Int32Array, options, up);
      const x = tf.tensor2d(new Float32Array(logits), [n, classes!]);
      const dy = c.reduction === "none" ? tf.tensor1d(up) : tf.scalar(up[0]!);
      const { value, grad } = tf.valueAndGrad((t: tf.Tensor) => tf.sum(tf.mul(crossEntropy(t as tf.Tensor2D, target as Int32Array, opts), dy)))(x);
      const loss = crossEntropy(x, target as Int32Array, opts);
      const label = `tfjs crossEntropy ${c.reduction ?? "mean"}`;
      assertClose(c.reduction === "none" ? loss.dataSync() : loss.dataSync()[0]!, want.loss, tol(want.loss), `${label} loss`);
      assertClose(grad.dataSync(), want.grad, tol(want.grad), `${label} grad`);
      tf.dispose([x, dy, value, grad, loss]);
    });
  });

  it("linearCrossEntropy: loss and the gradients of hidden, weight and bias under any upstream gradient", async () => {
    const arb = linearCase({ specials: false }).map((c) => ({ ...c, ce: { ...c.ce, probs: false } }));
    await check("tfjs linearCrossEntropy", arb, 30, (c) => {
      const { n, d, v, hidden, weight, target, options } = linearInputs(c);
      const { bias, classWeight, chunkSize, ...rest } = options;
      delete rest.classes; // the op takes V from the tensors
      const none = rest.reduction === "none";
      const up = upstream(n, none, c.ce.seed);
      // The materialised oracle: logits = hidden·weightᵀ + bias in float64, then the reference.
      const b = bias as Float64Array | undefined;
      const head = { n, d, v, hidden, weight, bias: b };
      const ceOptions: CrossEntropyOptions = { ...rest, classes: v, ...(classWeight !== undefined ? { weight: classWeight as Float64Array } : {}) };
      const want = weightedReference(headLogits(head), target as Int32Array, ceOptions, up);
      const { gH, gW, gB } = headGradients(head, want.grad);
      const h = tf.tensor2d(new Float32Array(hidden), [n, d]);
      const w = tf.tensor2d(new Float32Array(weight), [v, d]);
      const bt = b === undefined ? undefined : tf.tensor1d(new Float32Array(b));
      const dy = none ? tf.tensor1d(up) : tf.scalar(up[0]!);
      const opts = { ...rest, ...(classWeight !== undefined ? { classWeight: classWeight as Float64Array } : {}), ...(chunkSize !== undefined ? { chunkSize: chunkSize as number } : {}) };
      const f = (hh: tf.Tensor, ww: tf.Tensor, bb?: tf.Tensor) =>
        tf.sum(tf.mul(linearCrossEntropy(hh as tf.Tensor2D, ww as tf.Tensor2D, target as Int32Array, { ...opts, ...(bb !== undefined ? { bias: bb as tf.Tensor1D } : {}) }), dy));
      const { value, grads } = bt === undefined ? tf.valueAndGrads((hh: tf.Tensor, ww: tf.Tensor) => f(hh, ww))([h, w]) : tf.valueAndGrads((hh: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => f(hh, ww, bb))([h, w, bt]);
      const loss = linearCrossEntropy(h, w, target as Int32Array, { ...opts, ...(bt !== undefined ? { bias: bt } : {}) });
      const label = `tfjs linearCrossEntropy ${(rest.reduction as string | undefined) ?? "mean"}`;
      assertClose(none ? loss.dataSync() : loss.dataSync()[0]!, want.loss, tol(want.loss), `${label} loss`);
      assertClose(grads[0]!.dataSync(), gH, tol(gH), `${label} gradHidden`);
      assertClose(grads[1]!.dataSync(), gW, tol(gW), `${label} gradWeight`);
      if (bt !== undefined) assertClose(grads[2]!.dataSync(), gB, tol(gB), `${label} gradBias`);
      tf.dispose([h, w, dy, value, loss, ...grads, ...(bt !== undefined ? [bt] : [])]);
    });
  });
});
