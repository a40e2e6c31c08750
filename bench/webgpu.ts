/**
 * `npm run bench:webgpu`: the WebGPU executor's fused cross-entropy forward+backward, float32, in
 * place, at GPT-2 (N × 50257) and Llama-3 (N × 128256) vocabularies, and few rows (N = 1, 4, 8 ×
 * 128256, which run in the split-vocabulary mode, and again with it turned off, as one workgroup
 * per row).
 *
 *   node --import tsx bench/webgpu.ts [--rows N] [--reps K]
 *
 * Prints the adapter's name, then per shape the vocabulary slices per row, the median and minimum
 * end-to-end time per call (after a warm-up call, buffers reused: upload of the logits, kernels,
 * readback of the gradient), the median GPU time of the kernels alone where the device has
 * timestamp queries, and the throughput as GB/s of logits read once plus gradient written once
 * (2·N·V·4 bytes) over the kernel time, or over the end-to-end time without timestamps. On
 * SwiftShader (a CPU Vulkan driver) the default is 16 rows, only to prove the script runs: no
 * speed claim there.
 */
import { existsSync } from "node:fs";
import { crossEntropyOutput } from "../src/api/crossEntropy.js";
import { resolveCrossEntropy } from "../src/api/resolve.js";
import { vocabSlices } from "../src/backends/webgpu/crossEntropy.js";
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

const ex = await createWebGpuExecutor({ timestamps: true });
const unsplit = await createWebGpuExecutor({ device: ex.device, timestamps: true, vocabSlices: 1 });
const soft = /swiftshader/i.test(ex.adapterName);
const rows = flag("rows") ?? (soft ? 16 : 2048);
const reps = flag("reps") ?? (soft ? 3 : 10);
const timed = ex.device.features.has("timestamp-query");
console.log(`adapter: ${ex.adapterName}${soft ? " (a CPU driver: figures prove the script runs, nothing more)" : ""}`);
console.log(`subgroup reductions: ${ex.subgroups ? "yes" : "no"}; kernel time: ${timed ? "timestamp queries" : "none (GB/s end to end)"}`);
console.log(`${reps} timed calls after one warm-up; end to end = upload + kernels + gradient readback`);
console.log(`| shape | slices | median ms | min ms | kernel ms (median) | GB/s (logits + grad${timed ? ", kernel" : ", end to end"}) |`);
console.log("| --- | --- | --- | --- | --- | --- |");
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const shapes = [[rows, 50257], [rows, 128256], [1, 128256], [4, 128256], [8, 128256]] as const;
for (const [n, v, e] of [...shapes.map(([n, v]) => [n, v, ex] as const), [1, 128256, unsplit] as const, [8, 128256, unsplit] as const]) {
  const logits = new Float32Array(n * v);
  for (let k = 0; k < logits.length; k++) logits[k] = Math.sin(k * 0.37) * 4;
  const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
  const r = resolveCrossEntropy("bench", "crossEntropy", logits, target, { classes: v, grad: true, inplace: true });
  const call = async (): Promise<void> => {
    const args = { logits: r.logits, n, v, target: r.target, probs: null, spec: r.spec, gradOut: r.logits };
    const out = crossEntropyOutput(args, await e.crossEntropy(args), r.logits);
    if (out.grad !== logits) throw new Error("bench/webgpu.ts: inplace did not return the logits");
  };
  await call(); // warm-up: pipeline compilation, buffer allocation
  const times: number[] = [];
  const kernel: number[] = [];
  for (let k = 0; k < reps; k++) {
    const t0 = performance.now();
    await call();
    times.push(performance.now() - t0);
    if (e.lastKernelMs !== null) kernel.push(e.lastKernelMs);
  }
  const med = median(times);
  const km = kernel.length > 0 ? median(kernel) : null;
  const bytes = 2 * n * v * 4;
  console.log(
    `| ${n} × ${v} | ${e === unsplit ? 1 : vocabSlices(n, v)} | ${med.toFixed(1)} | ${Math.min(...times).toFixed(1)} | ${km === null ? "-" : km.toFixed(3)} | ${(bytes / (km ?? med) / 1e6).toPrecision(3)} |`,
  );
}
unsplit.dispose();
await benchLinear();
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
  const engine = await createEngine({ backend: "webgpu", device: ex.device });
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
  engine.dispose();
}
