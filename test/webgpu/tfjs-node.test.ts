/**
 * `xent/tfjs` on TensorFlow.js's webgpu backend in Node: `@tensorflow/tfjs-backend-webgpu` runs
 * on Dawn (the `webgpu` package) given as `navigator.gpu`, SwiftShader without a GPU. The same
 * training as the Chromium test (tfjs-webgpu.test.ts), smaller: the adapter's crossEntropy on
 * webgpu gives the cpu backend's losses and gradients within 1e-4, no read of N×V float32 bytes
 * happens, logits whose values are still on the CPU take the host path, and tfjs's [1, N, V]
 * data of a matMul is handled. Then the fused linear head (`linearCrossEntropy`, with a bias):
 * a small model trained a few SGD steps under "mean", "sum" and "none" (distinct upstream values
 * per token) with ignoreIndex, label smoothing, softcap and z-loss gives the cpu backend's losses
 * and gradients within 1e-4, and nothing of min(N·D, V·D) float32 or more is read back.
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

if (env !== null) {
  const { tf, xent } = env;
  const K = 12; // the model's input width

  interface LinearCase {
    name: string;
    n: number;
    d: number;
    v: number;
    options: Parameters<typeof xent.linearCrossEntropy>[3];
    /** Per-token weights of the outer loss Σ w_i·L_i under "none" (distinct values: the upstream path). */
    rowWeights?: boolean;
  }
  const CASES: LinearCase[] = [
    { name: "mean, ignoreIndex, label smoothing", n: 24, d: 20, v: 37, options: { ignoreIndex: 5, labelSmoothing: 0.1 } },
    { name: "sum, softcap, z-loss, D not a multiple of 4", n: 8, d: 18, v: 101, options: { reduction: "sum", softcap: 4, zLoss: 1e-3 } },
    { name: "none with distinct upstream values, ignoreIndex", n: 16, d: 16, v: 37, options: { reduction: "none", ignoreIndex: 3 }, rowWeights: true },
  ];
  const LINEAR_STEPS = 3;

  /** Counts reads from the GPU (mapAsync, and readSync of values tfjs holds on the GPU only) while `on`. */
  function countReads() {
    const reads: number[] = [];
    const b = tf.backend();
    const readSync = b.readSync.bind(b);
    const tensorMap = Reflect.get(b, "tensorMap") as { get(id: object): { values: unknown } | undefined } | undefined;
    const state = { on: false };
    b.readSync = (dataId) => {
      const onGpu = tensorMap?.get(dataId)?.values == null; // values held on the CPU are read without a download
      const out = readSync(dataId);
      if (state.on && onGpu) reads.push(out.length * 4);
      return out;
    };
    const map = GPUBuffer.prototype.mapAsync;
    GPUBuffer.prototype.mapAsync = function (mode: number, offset?: number, size?: number) {
      if (state.on) reads.push(size ?? this.size - (offset ?? 0));
      return map.call(this, mode, offset, size);
    };
    return { reads, state, restore: () => ((GPUBuffer.prototype.mapAsync = map), (b.readSync = readSync)) };
  }

  /** SGD steps of tanh(x·W1) through the fused head (weight, bias); the losses, the last step's gradients, and (webgpu) the reads. */
  async function trainLinear(backend: string, c: LinearCase) {
    await tf.setBackend(backend);
    await tf.ready();
    if (backend === "webgpu") await xent.useWebGpu();
    const counter = backend === "webgpu" ? countReads() : null;
    try {
      const x = tf.tensor2d(Float32Array.from(genValues(c.n * K, 11, 1)), [c.n, K]);
      const y = Array.from(genTargets(c.n, 12, c.v));
      const w1 = tf.variable(tf.tensor2d(Float32Array.from(genValues(K * c.d, 13, 0.5)), [K, c.d]));
      const head = tf.variable(tf.tensor2d(Float32Array.from(genValues(c.v * c.d, 14, 0.4)), [c.v, c.d]));
      const bias = tf.variable(tf.tensor1d(Float32Array.from(genValues(c.v, 15, 0.2))));
      const rowW = tf.tensor1d(Float32Array.from({ length: c.n }, (_, i) => 0.25 + (i % 5) * 0.5));
      const lossFn = (): TF.Scalar => {
        const hidden = tf.tanh(tf.matMul(x, w1)) as TF.Tensor2D;
        const out = xent.linearCrossEntropy(hidden, head as unknown as TF.Tensor2D, y, { ...c.options, bias: bias as unknown as TF.Tensor1D });
        return (c.rowWeights === true ? tf.sum(tf.mul(out, rowW)) : out) as TF.Scalar;
      };
      const opt = tf.train.sgd(0.3);
      const losses: number[] = [];
      if (counter !== null) counter.state.on = true;
      for (let s = 0; s < LINEAR_STEPS; s++) {
        const l = opt.minimize(lossFn, true)!;
        losses.push((await l.data())[0]!);
        l.dispose();
      }
      const { value, grads } = tf.variableGrads(lossFn, [w1, head, bias]);
      losses.push((await value.data())[0]!);
      if (counter !== null) counter.state.on = false;
      const g = await Promise.all([w1, head, bias].map(async (v) => Float32Array.from(await grads[v.name]!.data())));
      return { losses, grads: g, reads: counter?.reads ?? [] };
    } finally {
      counter?.restore();
    }
  }

  for (const c of CASES) {
    test(`xent/tfjs linearCrossEntropy on webgpu (${c.name}): the cpu backend's losses and gradients, no N·D or V·D read`, async () => {
      const gpu = await trainLinear("webgpu", c);
      const cpu = await trainLinear("cpu", c);
      const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));
      gpu.losses.forEach((l, s) => assert.ok(close(l, cpu.losses[s]!), `step ${s}: webgpu ${l}, cpu ${cpu.losses[s]}`));
      ["w1", "head", "bias"].forEach((name, k) => {
        assert.equal(gpu.grads[k]!.length, cpu.grads[k]!.length, `d ${name} has the cpu's size`);
        gpu.grads[k]!.forEach((g, i) => assert.ok(close(g, cpu.grads[k]![i]!), `d ${name}[${i}]: webgpu ${g}, cpu ${cpu.grads[k]![i]}`));
      });
      const limit = Math.min(c.n * c.d, c.v * c.d) * 4;
      assert.ok(gpu.reads.length >= LINEAR_STEPS, `the loss values were read (${gpu.reads.length} reads)`);
      assert.deepEqual(gpu.reads.filter((bytes) => bytes >= limit), [], `no read of ${limit} bytes or more; reads: ${gpu.reads.join(", ")}`);
    });
  }

  test("xent/tfjs linearCrossEntropy on webgpu refuses the LM outputs the GPU head does not compute", async () => {
    await tf.setBackend("webgpu");
    const h = tf.tanh(tf.ones([4, 8])) as TF.Tensor2D;
    const w = tf.tanh(tf.ones([5, 8])) as TF.Tensor2D;
    assert.throws(() => xent.linearCrossEntropy(h, w, [0, 1, 2, 3], { argmax: true }), /options\.argmax is not computed by the GPU linear head/);
  });
}
