/**
 * `xent/tfjs` on TensorFlow.js's webgpu backend, in headless Chromium (Debian's /usr/bin/chromium,
 * or $CHROMIUM_PATH, via playwright-core, WebGPU on SwiftShader with --enable-unsafe-webgpu):
 * tfjs-core with its cpu and webgpu backends and the adapter, bundled with esbuild and served from
 * localhost. A dense layer (N×D inputs to V classes) trains 20 SGD steps with the adapter's
 * crossEntropy as its loss on the webgpu backend (after `useWebGpu()`) and on the cpu backend;
 * their losses agree within 1e-4, and on webgpu no read of N×V float32 bytes or more happens
 * during the steps (every GPUBuffer.mapAsync, and every readSync of data the tfjs backend holds on
 * the GPU, is counted).
 * Then the fused linear head (`linearCrossEntropy`, with a bias) on tanh(x·W1): 10 SGD steps
 * alternating "mean" (label smoothing, ignoreIndex) and "none" weighted per token (softcap; the
 * upstream gradient differs from row to row) give the cpu backend's losses and gradients within
 * 1e-4, with no read of min(N·D, V·D) float32 bytes or more of data tfjs held on the GPU.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { genTargets, genValues } from "../helpers/gen.js";
import { withWebGpuPage } from "./browser.js";

const N = 32;
const D = 16;
const V = 100;
const STEPS = 20;

interface Run {
  losses: number[];
  /** Bytes of each read from the GPU during the steps. */
  reads: number[];
  /** The message of crossEntropy on webgpu before useWebGpu(). */
  refused: string;
  /** Per-token losses and lse-free checks of a forward call with options, webgpu and cpu. */
  none: number[];
  /** tfjs's tensor count after each step. */
  tensors: number[];
}

const ENTRY = [
  'import * as tf from "@tensorflow/tfjs-core";',
  'import "@tensorflow/tfjs-core/dist/register_all_gradients";',
  'import "@tensorflow/tfjs-backend-cpu";',
  'import "@tensorflow/tfjs-backend-webgpu";',
  'import { crossEntropy, linearCrossEntropy, useWebGpu } from "./src/adapters/tfjs.ts";',
  "export { tf, crossEntropy, linearCrossEntropy, useWebGpu };",
].join("\n");

const SCRIPT = `
import { tf, crossEntropy, linearCrossEntropy, useWebGpu } from "/xent.js";
// On webgpu, the bytes of every GPUBuffer.mapAsync and every readSync of values tfjs holds on
// the GPU while \`on\` (values held on the CPU are read without a download).
const countReads = (backend) => {
  const counter = { reads: [], on: false, restore: () => {} };
  if (backend !== "webgpu") return counter;
  const map = GPUBuffer.prototype.mapAsync;
  GPUBuffer.prototype.mapAsync = function (mode, offset, size) {
    if (counter.on) counter.reads.push(size ?? this.size - (offset ?? 0));
    return map.call(this, mode, offset, size);
  };
  const b = tf.backend();
  const readSync = b.readSync.bind(b);
  b.readSync = (dataId) => {
    const onGpu = b.tensorMap.get(dataId)?.values == null;
    const out = readSync(dataId);
    if (counter.on && onGpu) counter.reads.push(out.byteLength ?? out.length * 4);
    return out;
  };
  counter.restore = () => {
    GPUBuffer.prototype.mapAsync = map;
    b.readSync = readSync;
  };
  return counter;
};
window.train = async (backend, c) => {
  await tf.setBackend(backend);
  await tf.ready();
  let refused = "";
  if (backend === "webgpu") {
    try { crossEntropy(tf.zeros([2, 4]), [0, 1]); } catch (e) { refused = String(e.message); }
    await useWebGpu();
  }
  const counter = countReads(backend);
  const reads = counter.reads;
  const x = tf.tensor2d(c.x, [c.n, c.d]);
  const y = Int32Array.from(c.y);
  const w = tf.variable(tf.tensor2d(c.w, [c.d, c.v]));
  const bias = tf.variable(tf.zeros([c.v]));
  const opt = tf.train.sgd(0.5);
  const losses = [];
  const tensors = [];
  counter.on = true;
  for (let s = 0; s < c.steps; s++) {
    const loss = opt.minimize(() => crossEntropy(tf.add(tf.matMul(x, w), bias), y), true);
    losses.push((await loss.data())[0]);
    loss.dispose();
    tensors.push(tf.memory().numTensors);
  }
  const perToken = crossEntropy(tf.add(tf.matMul(x, w), bias), y, { reduction: "none", labelSmoothing: 0.1, zLoss: 1e-3 });
  const none = Array.from(await perToken.data());
  counter.on = false;
  counter.restore();
  perToken.dispose();
  return { losses, reads, refused, none, tensors };
};
window.trainLinear = async (backend, c) => {
  await tf.setBackend(backend);
  await tf.ready();
  if (backend === "webgpu") await useWebGpu();
  const counter = countReads(backend);
  const x = tf.tensor2d(c.x, [c.n, c.k]);
  const y = Int32Array.from(c.y);
  const w1 = tf.variable(tf.tensor2d(c.w1, [c.k, c.d]));
  const head = tf.variable(tf.tensor2d(c.head, [c.v, c.d]));
  const bias = tf.variable(tf.zeros([c.v]));
  const rowW = tf.tensor1d(c.rowW);
  const opt = tf.train.sgd(0.3);
  const lossOf = (opts, weighted) => () => {
    const out = linearCrossEntropy(tf.tanh(tf.matMul(x, w1)), head, y, { ...opts, bias });
    return weighted ? tf.sum(tf.mul(out, rowW)) : out;
  };
  const losses = [];
  const tensors = [];
  counter.on = true;
  for (let s = 0; s < c.steps; s++) {
    const weighted = s % 2 === 1;
    const loss = opt.minimize(lossOf(weighted ? { reduction: "none", softcap: 5 } : { labelSmoothing: 0.1, ignoreIndex: 3 }, weighted), true);
    losses.push((await loss.data())[0]);
    loss.dispose();
    tensors.push(tf.memory().numTensors);
  }
  const { value, grads } = tf.variableGrads(lossOf({ reduction: "none", zLoss: 1e-3 }, true), [w1, head, bias]);
  losses.push((await value.data())[0]);
  counter.on = false;
  const g = await Promise.all([w1, head, bias].map(async (v) => Array.from(await grads[v.name].data())));
  counter.restore();
  return { losses, reads: counter.reads, tensors, grads: g };
};
window.ready = true;
`;

/** The page's `window[fn](backend, config)` in a new page of its own. */
async function runIn<T>(open: () => Promise<Page>, fn: "train" | "trainLinear", backend: string, config: unknown): Promise<T> {
  const p = await open();
  const run = await p.evaluate(([f, b, c]) => (window as unknown as Record<string, (b: string, c: unknown) => Promise<T>>)[f]!(b, c), [fn, backend, config] as const);
  await p.close();
  return run;
}

test("xent/tfjs on tfjs's webgpu backend: 20 training steps match the cpu backend within 1e-4, and no N×V read", async () => {
  await withWebGpuPage(ENTRY, SCRIPT, async (open) => {
    const config = {
      n: N,
      d: D,
      v: V,
      steps: STEPS,
      x: Array.from(genValues(N * D, 1, 1), Math.fround),
      w: Array.from(genValues(D * V, 2, 0.3), Math.fround),
      y: Array.from(genTargets(N, 3, V)),
    };
    const gpu = await runIn<Run>(open, "train", "webgpu", config);
    const cpu = await runIn<Run>(open, "train", "cpu", config);
    assert.match(gpu.refused, /tfjs runs on webgpu; expected `await useWebGpu\(\)`/);
    assert.equal(gpu.losses.length, STEPS);
    gpu.losses.forEach((l, s) => assert.ok(Math.abs(l - cpu.losses[s]!) <= 1e-4, `step ${s}: webgpu loss ${l}, cpu ${cpu.losses[s]}`));
    assert.ok(gpu.losses[STEPS - 1]! < gpu.losses[0]! - 0.1, `the loss falls: ${gpu.losses[0]} -> ${gpu.losses[STEPS - 1]}`);
    gpu.none.forEach((l, i) => assert.ok(Math.abs(l - cpu.none[i]!) <= 1e-4, `per-token loss ${i}: webgpu ${l}, cpu ${cpu.none[i]}`));
    assert.equal(new Set(gpu.tensors.slice(1)).size, 1, `no tensor leaks: ${gpu.tensors.join(", ")}`);
    assert.ok(gpu.reads.length >= STEPS, `the loss values were read back (${gpu.reads.length} reads)`);
    const big = gpu.reads.filter((b) => b >= N * V * 4);
    assert.deepEqual(big, [], `no read of N×V float32 (${N * V * 4} bytes) or more; reads: ${gpu.reads.join(", ")}`);
  });
});

const L = { n: 32, k: 8, d: 16, v: 101, steps: 10 };

test("xent/tfjs linearCrossEntropy on tfjs's webgpu backend: 10 training steps (mean, none weighted per token) match the cpu backend within 1e-4, and no N·D or V·D read", async () => {
  await withWebGpuPage(ENTRY, SCRIPT, async (open) => {
    const config = {
      ...L,
      x: Array.from(genValues(L.n * L.k, 21, 1), Math.fround),
      w1: Array.from(genValues(L.k * L.d, 22, 0.5), Math.fround),
      head: Array.from(genValues(L.v * L.d, 23, 0.4), Math.fround),
      y: Array.from(genTargets(L.n, 24, L.v)),
      rowW: Array.from({ length: L.n }, (_, i) => 0.25 + (i % 5) * 0.5),
    };
    interface LinearRun {
      losses: number[];
      reads: number[];
      tensors: number[];
      grads: number[][];
    }
    const gpu = await runIn<LinearRun>(open, "trainLinear", "webgpu", config);
    const cpu = await runIn<LinearRun>(open, "trainLinear", "cpu", config);
    const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));
    assert.equal(gpu.losses.length, L.steps + 1);
    gpu.losses.forEach((l, s) => assert.ok(close(l, cpu.losses[s]!), `step ${s}: webgpu loss ${l}, cpu ${cpu.losses[s]}`));
    assert.ok(gpu.losses[L.steps - 2]! < gpu.losses[0]! - 0.05, `the mean loss falls: ${gpu.losses[0]} -> ${gpu.losses[L.steps - 2]}`);
    ["w1", "head", "bias"].forEach((name, k) => {
      assert.equal(gpu.grads[k]!.length, cpu.grads[k]!.length, `d ${name} has the cpu's size`);
      gpu.grads[k]!.forEach((g, i) => assert.ok(close(g, cpu.grads[k]![i]!), `d ${name}[${i}]: webgpu ${g}, cpu ${cpu.grads[k]![i]}`));
    });
    for (let s = 3; s < L.steps; s++) assert.equal(gpu.tensors[s], gpu.tensors[s - 2], `no tensor leaks: ${gpu.tensors.join(", ")}`);
    assert.ok(gpu.reads.length >= L.steps, `the loss values were read back (${gpu.reads.length} reads)`);
    const limit = Math.min(L.n * L.d, L.v * L.d) * 4;
    assert.deepEqual(gpu.reads.filter((b) => b >= limit), [], `no read of ${limit} bytes or more; reads: ${gpu.reads.join(", ")}`);
  });
});
