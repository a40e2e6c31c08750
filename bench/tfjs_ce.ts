/**
 * tfjs anchor for bench/engine.ts: tf.losses.softmaxCrossEntropy and its gradient on
 * @tensorflow/tfjs-backend-wasm, in its own process (its wasm heap is separate from ours).
 *
 *   node --import tsx bench/tfjs_ce.ts N V RUNS
 *
 * Prints one JSON line. The gradient comes from the op's own custom gradient, with dy = 1/N per
 * token (the mean's gradient), so no other gradient needs registering. tfjs-backend-wasm runs
 * single-threaded in Node (WASM_HAS_MULTITHREAD_SUPPORT is false there).
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const tf = require("@tensorflow/tfjs-core") as typeof import("@tensorflow/tfjs-core");
require("@tensorflow/tfjs-backend-wasm");

const [n, v, runs] = process.argv.slice(2, 5).map(Number) as [number, number, number];

function stats(ts: number[]): { median: number; min: number } {
  const s = [...ts].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
}

async function main(): Promise<void> {
  await tf.setBackend("wasm");
  await tf.ready();
  const data = new Float32Array(n * v);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.618) * 4;
  const x = tf.tensor2d(data, [n, v]);
  const labels = tf.oneHot(tf.tensor1d(Int32Array.from({ length: n }, (_, i) => (i * 7919) % v), "int32"), v);
  const dy = tf.fill([n], 1 / n);
  const fwdBwd = tf.valueAndGrad((l: import("@tensorflow/tfjs-core").Tensor) => tf.losses.softmaxCrossEntropy(labels, l, undefined, 0, tf.Reduction.NONE));
  const base = tf.memory().numBytes;
  const time = async (f: () => Promise<void>): Promise<{ median: number; min: number }> => {
    await f();
    const ts: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      await f();
      ts.push(performance.now() - t0);
    }
    return stats(ts);
  };
  const fwd = await time(async () => {
    const loss = tf.tidy(() => tf.losses.softmaxCrossEntropy(labels, x));
    await loss.data();
    loss.dispose();
  });
  const step = async (): Promise<void> => {
    const { value, grad } = fwdBwd(x, dy);
    await grad.data();
    value.dispose();
    grad.dispose();
  };
  const fwdbwd = await time(step);
  const peak = (await tf.profile(step)).peakBytes - base; // includes the N×V gradient
  console.log(JSON.stringify({ tfjs: tf.version_core, backend: tf.getBackend(), threads: 1, fwd, fwdbwd, peakExtraBytes: peak }));
}

main().catch((e: unknown) => {
  console.log(JSON.stringify({ error: String((e as Error)?.message ?? e) }));
});
