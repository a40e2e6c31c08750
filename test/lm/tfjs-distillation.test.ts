/**
 * xent/tfjs distillationLoss: its value and the student's gradient (through tf.grads) against
 * PyTorch's fixtures, every reduction, a mask, and a zero gradient for the teacher.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs"; // registers the cpu backend
import { distillationLoss } from "../../src/adapters/tfjs.js";
import { assertClose } from "../helpers/close.js";
import { distillFixtures } from "./fixtures.js";

before(async () => {
  tf.enableProdMode();
  await tf.setBackend("cpu");
});

test("tfjs distillationLoss: value and student gradient match PyTorch; the teacher gets none", () => {
  const chosen = distillFixtures().filter((c) => c.v < 1000 && c.name.startsWith("grid/") && !c.name.includes("Infinity"));
  assert.ok(chosen.length >= 100, `only ${chosen.length} cases`);
  for (const c of chosen) {
    const s = tf.tensor2d(new Float32Array(c.student), [c.n, c.v]);
    const t = tf.tensor2d(new Float32Array(c.teacher), [c.n, c.v]);
    const options = {
      kind: c.kind,
      temperature: c.temperature,
      reduction: c.reduction,
      ...(c.kind === "jsd" ? { beta: c.beta } : {}),
      ...(c.target === null ? {} : { target: c.target, ignoreIndex: c.ignoreIndex }),
    };
    const f = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.sum(distillationLoss(a as tf.Tensor2D, b as tf.Tensor2D, options));
    const value = distillationLoss(s, t, options);
    const [gs, gt] = tf.grads(f)([s, t]);
    const tol = { atol: 1e-5 * c.temperature * c.temperature, rtol: 1e-5 };
    const want = c.want.loss ?? c.want.rowLoss;
    if (typeof want === "number") assertClose(value.dataSync()[0]!, want, tol, `${c.name} loss`);
    else assertClose(value.dataSync(), want, tol, `${c.name} per-token loss`);
    assertClose(gs!.dataSync(), c.want.grad, { atol: 1e-6 * c.temperature, rtol: 1e-4 }, `${c.name} student grad`);
    assert.ok(gt!.dataSync().every((x) => x === 0), `${c.name}: the teacher has a gradient`);
    tf.dispose([s, t, value, gs!, gt!]);
  }
});
