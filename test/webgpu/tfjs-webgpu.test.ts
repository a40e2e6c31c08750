/**
 * `xent/tfjs` on TensorFlow.js's webgpu backend, in headless Chromium (Debian's /usr/bin/chromium,
 * or $CHROMIUM_PATH, via playwright-core, WebGPU on SwiftShader with --enable-unsafe-webgpu):
 * tfjs-core with its cpu and webgpu backends and the adapter, bundled with esbuild and served from
 * localhost. A dense layer (N×D inputs to V classes) trains 20 SGD steps with the adapter's
 * crossEntropy as its loss on the webgpu backend (after `useWebGpu()`) and on the cpu backend;
 * their losses agree within 1e-4, and on webgpu no read of N×V float32 bytes or more happens
 * during the steps (every GPUBuffer.mapAsync and every readSync of the tfjs backend is counted).
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
  'import { crossEntropy, useWebGpu } from "./src/adapters/tfjs.ts";',
  "export { tf, crossEntropy, useWebGpu };",
].join("\n");

const SCRIPT = `
import { tf, crossEntropy, useWebGpu } from "/xent.js";
window.train = async (backend, c) => {
  await tf.setBackend(backend);
  await tf.ready();
  let refused = "";
  if (backend === "webgpu") {
    try { crossEntropy(tf.zeros([2, 4]), [0, 1]); } catch (e) { refused = String(e.message); }
    await useWebGpu();
  }
  const reads = [];
  let counting = false;
  if (backend === "webgpu") {
    const map = GPUBuffer.prototype.mapAsync;
    GPUBuffer.prototype.mapAsync = function (mode, offset, size) {
      if (counting) reads.push(size ?? this.size - (offset ?? 0));
      return map.call(this, mode, offset, size);
    };
    const b = tf.backend();
    const readSync = b.readSync.bind(b);
    b.readSync = (dataId) => {
      const out = readSync(dataId);
      if (counting) reads.push(out.byteLength ?? out.length * 4);
      return out;
    };
  }
  const x = tf.tensor2d(c.x, [c.n, c.d]);
  const y = Int32Array.from(c.y);
  const w = tf.variable(tf.tensor2d(c.w, [c.d, c.v]));
  const bias = tf.variable(tf.zeros([c.v]));
  const opt = tf.train.sgd(0.5);
  const losses = [];
  const tensors = [];
  counting = true;
  for (let s = 0; s < c.steps; s++) {
    const loss = opt.minimize(() => crossEntropy(tf.add(tf.matMul(x, w), bias), y), true);
    losses.push((await loss.data())[0]);
    loss.dispose();
    tensors.push(tf.memory().numTensors);
  }
  const perToken = crossEntropy(tf.add(tf.matMul(x, w), bias), y, { reduction: "none", labelSmoothing: 0.1, zLoss: 1e-3 });
  const none = Array.from(await perToken.data());
  counting = false;
  perToken.dispose();
  return { losses, reads, refused, none, tensors };
};
window.ready = true;
`;

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
    const runOn = async (backend: string): Promise<Run> => {
      const p: Page = await open();
      const run = await p.evaluate(
        ([b, c]) => (window as unknown as { train(b: string, c: unknown): Promise<Run> }).train(b, c),
        [backend, config] as const,
      );
      await p.close();
      return run;
    };
    const gpu = await runOn("webgpu");
    const cpu = await runOn("cpu");
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
