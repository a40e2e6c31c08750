/**
 * Training-step time of the tiny GPT (size "small" at batch 16×64, V = 103) on tfjs's wasm and cpu
 * backends, side by side in one process: warm-up steps, then the median and minimum of timed
 * steps (forward, xent loss and gradient, backward, Adam).
 *   node --import tsx bench/trainer.ts [timedSteps]
 */
import * as tf from "@tensorflow/tfjs-core";
import { setupTf, type TfBackend } from "../examples/tiny-gpt/src/backend.js";
import { disposeParams } from "../examples/tiny-gpt/src/checkpoint.js";
import { initParams, loss, SIZES, type ModelConfig } from "../examples/tiny-gpt/src/model.js";

const timed = Number(process.argv[2] ?? 6);
const s = SIZES.small!;
const config: ModelConfig = { size: "small", vocabSize: 103, context: s.context, layers: s.layers, width: s.width, heads: s.heads, tied: true };
const batch = 16; // fixed, so figures stay comparable whatever the preset's batch
const n = batch * s.context;
const x = Int32Array.from({ length: n }, (_, i) => (i * 7) % 103);
const y = Int32Array.from({ length: n }, (_, i) => (i * 13) % 103);

const rows: string[] = [];
for (const backend of ["wasm", "cpu"] as TfBackend[]) {
  await setupTf(backend);
  const params = initParams(config, 1);
  const opt = tf.train.adam(s.learningRate);
  const times: number[] = [];
  let last = 0;
  for (let i = 0; i < 2 + timed; i++) {
    const t0 = performance.now();
    const l = opt.minimize(() => loss(config, params, x, y, batch, s.context), true)!;
    last = l.dataSync()[0]!;
    l.dispose();
    if (i >= 2) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  rows.push(`| ${backend} | ${median.toFixed(0)} | ${times[0]!.toFixed(0)} | ${Math.round((n / median) * 1000)} | ${last.toFixed(6)} |`);
  opt.dispose();
  disposeParams(params);
}
console.log(`tiny GPT "small" training step, ${timed} timed steps after 2 warm-up, batch ${batch}×${s.context}\n`);
console.log("| tfjs backend | median ms/step | min ms/step | tokens/s (median) | loss after the last step |");
console.log("|---|---|---|---|---|");
for (const r of rows) console.log(r);
