/**
 * `npm run bench:webgpu`: the WebGPU executor's fused cross-entropy forward+backward at GPT-2
 * (N × 50257) and Llama-3 (N × 128256) vocabularies, float32, through createEngine({ backend: "webgpu" }), in place.
 *
 *   node --import tsx bench/webgpu.ts [--rows N] [--reps K]
 *
 * Prints the adapter's name, the median and minimum time per call (after a warm-up call, buffers
 * reused), and the throughput as GB/s of logits read plus gradient written and as
 * elements/s. These are end-to-end figures: they include the upload of the logits and the
 * readback of the gradient over the host link, not the kernel alone. On SwiftShader (a CPU
 * Vulkan driver) the default is 16 rows, only to prove the script runs: no speed claim there.
 */
import { existsSync } from "node:fs";
import { createWebGpuExecutor } from "../src/backends/webgpu/index.js";
import { createEngine } from "../src/index.js";
import { engineExecutor } from "../src/api/engine.js";

const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

function flag(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const x = Number(process.argv[i + 1]);
  if (!Number.isInteger(x) || x < 1) throw new Error(`bench/webgpu.ts: --${name} ${process.argv[i + 1]}; expected a positive integer`);
  return x;
}

const ex = await createWebGpuExecutor(); // for the adapter's name; the engine runs on its device
const engine = await createEngine({ backend: "webgpu", device: ex.device });
const soft = /swiftshader/i.test(ex.adapterName);
const rows = flag("rows") ?? (soft ? 16 : 2048);
const reps = flag("reps") ?? (soft ? 3 : 10);
console.log(`adapter: ${ex.adapterName}${soft ? " (a CPU driver: figures prove the script runs, nothing more)" : ""}`);
console.log(`rows ${rows}, ${reps} timed calls after one warm-up; end to end (upload + kernel + gradient readback)`);
console.log("| shape | median ms | min ms | GB/s (logits + grad, median) | Gelem/s |");
console.log("| --- | --- | --- | --- | --- |");
for (const v of [50257, 128256]) {
  const n = rows;
  const logits = engine.alloc(n * v); // engine memory: the engine does not copy it per call
  for (let k = 0; k < logits.length; k++) logits[k] = Math.sin(k * 0.37) * 4;
  const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
  const call = async (): Promise<void> => {
    const out = await engine.crossEntropy(logits, target, { classes: v, grad: true, inplace: true });
    if (out.grad !== logits) throw new Error("bench/webgpu.ts: inplace did not return the logits");
  };
  await call(); // warm-up: pipeline compilation, buffer allocation
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await call();
    times.push(performance.now() - t0);
  }
  engine.free(logits);
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)]!;
  const bytes = 2 * n * v * 4;
  console.log(`| ${n} × ${v} | ${med.toFixed(1)} | ${times[0]!.toFixed(1)} | ${(bytes / med / 1e6).toFixed(2)} | ${((n * v) / med / 1e6).toFixed(3)} |`);
}
await benchLinear();
engine.dispose();
ex.dispose();

/**
 * The fused linear head (engine.linearCrossEntropy, float32 on the GPU): N × D hidden states,
 * a V × D weight with bias, forward + backward (gradients for hidden, weight and bias) and the
 * forward alone. GFLOP/s count the products only: 6·N·D·V with the gradients, 2·N·D·V without.
 * Extra memory: the kernel's scratch (about chunk × V × 4 bytes) and every GPU buffer the
 * executor holds after the calls (the device copies of weight and gradWeight included).
 *
 *   --linear-rows N --hidden D --vocab V --chunk R (defaults 2048, 2048, 128256, 512 on a GPU;
 *   64, 64, 1000, 32 on SwiftShader)
 */
async function benchLinear(): Promise<void> {
  const n = flag("linear-rows") ?? (soft ? 64 : 2048);
  const d = flag("hidden") ?? (soft ? 64 : 2048);
  const v = flag("vocab") ?? (soft ? 1000 : 128256);
  const chunkSize = Math.min(n, flag("chunk") ?? (soft ? 32 : 512));
  const hidden = engine.alloc(n * d); // engine memory: not copied per call
  const weight = engine.alloc(v * d);
  for (let k = 0; k < hidden.length; k++) hidden[k] = Math.sin(k * 0.37);
  for (let k = 0; k < weight.length; k++) weight[k] = Math.sin(k * 0.61) * 0.05;
  const bias = new Float32Array(v).map((_, j) => Math.cos(j) * 0.1);
  const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
  const gpu = engineExecutor(engine);
  const gpuBytes = (): number => ("bufferBytes" in gpu && typeof gpu.bufferBytes === "number" ? gpu.bufferBytes : 0);
  console.log(`\nlinear head: N ${n}, D ${d}, V ${v}, chunk ${chunkSize} rows; ${reps} timed calls after one warm-up; end to end (upload, kernels, gradient readback)`);
  console.log("| pass | median ms | min ms | GFLOP/s (median) | scratch MiB | GPU buffers MiB |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const grad of [true, false]) {
    let scratch = 0;
    const call = async (): Promise<void> => {
      const out = await engine.linearCrossEntropy(hidden, weight, target, { bias, grad, chunkSize });
      if (!Number.isFinite(out.loss)) throw new Error(`bench/webgpu.ts: linear head loss ${out.loss}`);
      scratch = out.scratchBytes;
      if (out.gradWeight !== undefined) engine.free(out.gradWeight); // a block of engine memory (weight is one)
    };
    await call();
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      await call();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const med = times[Math.floor(times.length / 2)]!;
    const flops = (grad ? 6 : 2) * n * d * v;
    const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
    console.log(`| ${grad ? "forward + backward" : "forward"} | ${med.toFixed(1)} | ${times[0]!.toFixed(1)} | ${(flops / med / 1e6).toPrecision(3)} | ${mib(scratch)} | ${mib(gpuBytes())} |`);
  }
  engine.free(hidden);
  engine.free(weight);
}
