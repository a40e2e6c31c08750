/**
 * Opt-in (not part of `npm test`, too slow on SwiftShader): the 1 GiB case, 2048 × 128256 float32
 * logits, on the WebGPU executor with bindings capped at WebGPU's default 128 MiB, so the call
 * runs in row blocks. Rows on both sides of every block boundary, and the first and last rows,
 * are checked against the float64 reference; the reduced loss against the js backend.
 *
 *   node --import tsx test/webgpu/large.ts [--rows N]      (default 2048)
 */
import { planRowBlocks } from "../../src/backends/webgpu/index.js";
import { crossEntropy } from "../../src/index.js";
import { createWebGpuExecutor } from "../../src/backends/webgpu/index.js";
import { assertClose } from "../helpers/close.js";
import { genTargets } from "../helpers/gen.js";
import { runOn } from "./setup.js";

const i = process.argv.indexOf("--rows");
const n = i >= 0 ? Number(process.argv[i + 1]) : 2048;
const v = 128256;
const LIMIT = 128 * 1024 * 1024;
const ex = await createWebGpuExecutor({ maxBindingBytes: LIMIT });
const plan = planRowBlocks(n, v * 4, { maxBindingBytes: LIMIT, offsetAlignment: 256, maxWorkgroups: 65535 }, false);
console.log(`${ex.adapterName}: ${n} × ${v} float32 (${((n * v * 4) / 2 ** 20).toFixed(0)} MiB) in ${plan.blocks} blocks of ${plan.rowsPerBlock} rows`);

const logits = new Float32Array(n * v);
let h = 12345;
for (let k = 0; k < logits.length; k++) {
  h = (Math.imul(h, 1103515245) + 12345) >>> 0;
  logits[k] = ((h >>> 8) / 2 ** 24 - 0.5) * 16;
}
const target = genTargets(n, 1, v);
const options = { classes: v, grad: true, labelSmoothing: 0.1, zLoss: 1e-4, reduction: "sum" as const };
const t0 = performance.now();
const got = await runOn(ex, logits, target, options);
console.log(`webgpu: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const set = new Set<number>([0, n - 1]);
for (let b = 1; b < plan.blocks; b++) for (const r of [b * plan.rowsPerBlock - 1, b * plan.rowsPerBlock]) set.add(r);
const check = [...set].sort((a, b) => a - b);
for (const r of check) {
  const row = Float64Array.from(logits.subarray(r * v, (r + 1) * v));
  const want = crossEntropy(row, target.subarray(r, r + 1), { ...options, backend: "reference" });
  assertClose(got.lse[r]!, want.lse[0]!, { atol: 2e-5, rtol: 2e-6 }, `row ${r} lse`);
  assertClose(got.grad!.subarray(r * v, (r + 1) * v), want.grad!, { atol: 1e-6, rtol: 1e-4 }, `row ${r} grad`);
}
const js = crossEntropy(logits, target, { ...options, grad: false, backend: "js" });
assertClose(got.loss as number, js.loss, { atol: 0, rtol: 1e-5 }, "summed loss vs the js backend");
console.log(`ok: rows ${check.join(", ")} match the reference; the loss ${got.loss} matches the js backend's ${js.loss}`);
ex.dispose();
