/**
 * The tfjs ops take their shapes from the tensors: hidden (N, D), weight (V, D), bias (V),
 * target (N) for linearCrossEntropy; logits (N, V), target (N) for crossEntropy. A mismatch is
 * a RangeError from the op that names both shapes, never a silent result (the target's length
 * used to set N: hidden 2×2 with target [0] returned 0 with zero gradients, and 4 targets for 2
 * hidden rows with a 4-class weight returned 4.6966) and never a tfjs-internal Error.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs"; // registers the cpu backend and every op's gradient
import { crossEntropy, linearCrossEntropy } from "../../src/adapters/tfjs.js";
import { crossEntropy as coreCrossEntropy } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";

before(async () => {
  tf.enableProdMode();
  await tf.setBackend("cpu");
});

/** Assert that f throws a RangeError whose message starts with `fn:` and contains every needle. */
function throwsNaming(f: () => unknown, fn: string, needles: string[]): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof RangeError, `a RangeError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${fn}: `), e.message);
    for (const s of needles) assert.ok(e.message.includes(s), `"${e.message}" names ${s}`);
    return true;
  });
}

describe("tfjs linearCrossEntropy: shapes from the tensors", () => {
  const fn = "tfjs.linearCrossEntropy";
  it("hidden 2×2, weight 2×2, target [0]: an error, not 0 with zero gradients", () => {
    const h = tf.tensor2d([[1, 2], [3, 4]]);
    const w = tf.tensor2d([[1, 0], [0, 1]]);
    throwsNaming(() => linearCrossEntropy(h, w, [0]), fn, ["target has shape [1]", "hidden [2, 2]", "[2]"]);
    throwsNaming(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => linearCrossEntropy(a as tf.Tensor2D, b as tf.Tensor2D, [0]))([h, w]), fn, ["[1]", "[2, 2]"]);
    throwsNaming(() => linearCrossEntropy(h, w, tf.tensor1d([0], "int32")), fn, ["target has shape [1]", "hidden [2, 2]"]);
    tf.dispose([h, w]);
  });
  it("4 targets for 2 hidden rows with a 4-class weight: an error, not a loss", () => {
    const h = tf.tensor2d([[1, 2], [3, 4]]);
    const w = tf.tensor2d([[1, 0], [0, 1], [1, 1], [0.5, 0]]);
    throwsNaming(() => linearCrossEntropy(h, w, [0, 1, 2, 3]), fn, ["target has shape [4]", "hidden [2, 2]"]);
    throwsNaming(() => linearCrossEntropy(h, w, [0, 1, 2], { reduction: "none" }), fn, ["target has shape [3]", "hidden [2, 2]"]);
    tf.dispose([h, w]);
  });
  it("weight with another D than hidden, and a bias of the wrong length, name both shapes", () => {
    const h = tf.tensor2d([[1, 2, 3], [3, 4, 5]]);
    const w = tf.tensor2d([[1, 0], [0, 1], [1, 1]]);
    throwsNaming(() => linearCrossEntropy(h, w, [0, 1]), fn, ["hidden has shape [2, 3]", "weight [3, 2]", "[V, 3]"]);
    // 2×3 hidden and 2×3 weight hold 6 values each: the flat data cannot tell them apart.
    const w23 = tf.tensor2d([[1, 0, 1], [0, 1, 1]]);
    const h32 = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
    throwsNaming(() => linearCrossEntropy(h32, w23, [0, 1, 1]), fn, ["hidden has shape [3, 2]", "weight [2, 3]"]);
    const w2 = tf.tensor2d([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    throwsNaming(() => linearCrossEntropy(h, w2, [0, 1], { bias: tf.tensor1d([1, 2]) }), fn, ["options.bias has shape [2]", "weight [3, 3]", "[3]"]);
    tf.dispose([h, w, w2, w23, h32]);
  });
  it("consistent shapes give crossEntropy's loss on the materialised logits", () => {
    const h = tf.tensor2d([[1, 2], [3, 4]]);
    const w = tf.tensor2d([[1, 0], [0, 1], [1, 1]]);
    const got = linearCrossEntropy(h, w, tf.tensor1d([2, 0], "int32"));
    const want = coreCrossEntropy([[1, 2, 3], [3, 4, 7]], [2, 0], { backend: "reference" });
    assertClose(got.dataSync()[0]!, want.loss as number, { atol: 1e-6, rtol: 1e-6 }, "loss");
    tf.dispose([h, w, got]);
  });
});

describe("tfjs crossEntropy: the target's length against the logits' shape", () => {
  it("a target of another length than N names both shapes", () => {
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    throwsNaming(() => crossEntropy(x, [0]), "tfjs.crossEntropy", ["target has shape [1]", "logits [2, 2]"]);
    throwsNaming(() => crossEntropy(x, tf.tensor1d([0, 1, 1], "int32")), "tfjs.crossEntropy", ["target has shape [3]", "logits [2, 2]"]);
    tf.dispose(x);
  });
});
