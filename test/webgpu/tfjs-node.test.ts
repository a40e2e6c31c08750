/**
 * `xent/tfjs` on TensorFlow.js's webgpu backend in Node: `@tensorflow/tfjs-backend-webgpu` runs
 * on Dawn (the `webgpu` package) given as `navigator.gpu`, SwiftShader without a GPU. The same
 * training as the Chromium test (tfjs-webgpu.test.ts), smaller: the adapter's crossEntropy on
 * webgpu gives the cpu backend's losses and gradients within 1e-4, no read of N×V float32 bytes
 * happens, logits whose values are still on the CPU take the host path, and tfjs's [1, N, V]
 * data of a matMul is handled.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type * as TF from "@tensorflow/tfjs-core";
import { genTargets, genValues } from "../helpers/gen.js";
import { SWIFTSHADER_ICD, useSwiftShaderIfUnset } from "./setup.js";

useSwiftShaderIfUnset();

const N = 16;
const D = 8;
const V = 60;
const STEPS = 8;

/** tfjs with its webgpu backend on Dawn, or the reason there is none (the test then skips; under CI it fails). */
async function load() {
  const dawn = await import("webgpu");
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) Object.defineProperty(globalThis, k, { value: v, configurable: true, writable: true });
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter();
  if (adapter === null) {
    if (process.env.CI === "true") throw new Error(`CI=true needs a WebGPU adapter (${SWIFTSHADER_ICD})`);
    return null;
  }
  Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
  const tf = await import("@tensorflow/tfjs"); // with every gradient registered, and the cpu backend
  await import("@tensorflow/tfjs-backend-webgpu");
  const xent = await import("../../src/adapters/tfjs.js");
  return { tf, xent, gpu };
}

const env = await load();
if (env === null) {
  test("xent/tfjs on tfjs's webgpu backend in Node", { skip: "no WebGPU adapter here" }, () => {});
} else {
  const { tf, xent } = env;

  /** SGD steps of a dense layer; the losses, and (webgpu) the bytes of every read from the GPU. */
  async function train(backend: string): Promise<{ losses: number[]; reads: number[]; grad: Float32Array }> {
    await tf.setBackend(backend);
    await tf.ready();
    if (backend === "webgpu") await xent.useWebGpu();
    const reads: number[] = [];
    const b = tf.backend();
    const readSync = b.readSync.bind(b);
    b.readSync = (dataId) => {
      const out = readSync(dataId);
      reads.push(out.length * 4);
      return out;
    };
    const map = GPUBuffer.prototype.mapAsync;
    GPUBuffer.prototype.mapAsync = function (mode: number, offset?: number, size?: number) {
      reads.push(size ?? this.size - (offset ?? 0));
      return map.call(this, mode, offset, size);
    };
    try {
      const x = tf.tensor2d(Float32Array.from(genValues(N * D, 1, 1)), [N, D]);
      const y = genTargets(N, 3, V);
      const w = tf.variable(tf.tensor2d(Float32Array.from(genValues(D * V, 2, 0.3)), [D, V]));
      const opt = tf.train.sgd(0.5);
      // tfjs's matMul keeps its data as [1, N, V]: the op's gradient has the logits' shape all the same
      const loss = (): TF.Scalar => xent.crossEntropy(tf.matMul(x, w), y, { labelSmoothing: 0.05 }) as TF.Scalar;
      const losses: number[] = [];
      for (let s = 0; s < STEPS; s++) {
        const l = opt.minimize(loss, true)!;
        losses.push((await l.data())[0]!);
        l.dispose();
      }
      const g = tf.grad((logits: TF.Tensor) => xent.crossEntropy(logits as TF.Tensor2D, y, { reduction: "sum" }))(tf.matMul(x, w));
      const grad = Float32Array.from(await g.data());
      return { losses, reads, grad };
    } finally {
      GPUBuffer.prototype.mapAsync = map;
      b.readSync = readSync;
    }
  }

  test("xent/tfjs on tfjs's webgpu backend in Node: the cpu backend's losses and gradient, no N×V read", async () => {
    const gpu = await train("webgpu");
    const cpu = await train("cpu");
    gpu.losses.forEach((l, s) => assert.ok(Math.abs(l - cpu.losses[s]!) <= 1e-4, `step ${s}: webgpu ${l}, cpu ${cpu.losses[s]}`));
    gpu.grad.forEach((g, i) => assert.ok(Math.abs(g - cpu.grad[i]!) <= 1e-5 + 1e-4 * Math.abs(g), `grad[${i}]: webgpu ${g}, cpu ${cpu.grad[i]}`));
    const big = gpu.reads.slice(0, -1).filter((bytes) => bytes >= N * V * 4); // the last read is the test's own read of the gradient
    assert.deepEqual(big, [], `no read of N×V float32 during the steps; reads: ${gpu.reads.join(", ")}`);
  });

  test("logits whose values are still on the CPU take the host path on webgpu (no download either)", async () => {
    await tf.setBackend("webgpu");
    const logits = tf.tensor2d(Float32Array.from(genValues(4 * 6, 7, 3)), [4, 6]);
    const y = [1, 0, 5, 2];
    const [value, grad] = await (async () => {
      const r = tf.valueAndGrad((l: TF.Tensor) => xent.crossEntropy(l as TF.Tensor2D, y) as TF.Scalar)(logits);
      return [(await r.value.data())[0]!, await r.grad.data()];
    })();
    await tf.setBackend("cpu");
    const want = tf.valueAndGrad((l: TF.Tensor) => xent.crossEntropy(l as TF.Tensor2D, y) as TF.Scalar)(tf.tensor2d(Float32Array.from(genValues(4 * 6, 7, 3)), [4, 6]));
    assert.ok(Math.abs(value - (await want.value.data())[0]!) <= 1e-6);
    const wg = await want.grad.data();
    grad.forEach((g, i) => assert.ok(Math.abs(g - wg[i]!) <= 1e-6, `grad[${i}]`));
  });
}
