/**
 * The 1 GiB case: 2048 × 128256 float32 logits (a Llama-3 vocabulary) on the WebGPU executor with
 * bindings capped at WebGPU's default 128 MiB, so the call runs in row blocks. Rows on both sides
 * of every block boundary, and the first and last rows, are checked against the float64
 * reference; the reduced loss against the js backend. About a minute and 3 GB of memory on
 * SwiftShader (2 cores); XENT_LARGE_ROWS=N runs N rows instead.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { planRowBlocks } from "../../src/backends/webgpu/index.js";
import { crossEntropy } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { genTargets } from "../helpers/gen.js";
import { openExecutor, runOn } from "./setup.js";

const n = Number(process.env.XENT_LARGE_ROWS ?? 2048);
const v = 128256;
const LIMIT = 128 * 1024 * 1024;

test(`${n} × ${v} float32 logits (${((n * v * 4) / 2 ** 20).toFixed(0)} MiB) in row blocks under a 128 MiB binding limit match the reference at every block boundary`, async (t) => {
  const ex = await openExecutor({ maxBindingBytes: LIMIT });
  if (typeof ex === "string") return t.skip(ex);
  const plan = planRowBlocks(n, v * 4, { maxBindingBytes: LIMIT, offsetAlignment: 256, maxWorkgroups: 65535 }, false);
  assert.ok(n < 1024 || plan.blocks >= 8, `${plan.blocks} blocks`);
  t.diagnostic(`${ex.adapterName}: ${plan.blocks} blocks of ${plan.rowsPerBlock} rows`);
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
  t.diagnostic(`webgpu: ${((performance.now() - t0) / 1000).toFixed(1)} s`);

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
  t.diagnostic(`rows ${check.join(", ")} match the reference; the loss ${got.loss} matches the js backend's ${js.loss}`);
});
