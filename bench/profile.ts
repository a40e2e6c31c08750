/**
 * Where the time of one fwd+bwd goes: a V8 CPU profile (node:inspector) of the wasm engine on one
 * thread, summed by function (self time), plus the kernel's parts timed on their own on rows that
 * stay in cache (exp alone, forward, forward+backward), in ns per element.
 *
 *   node --import tsx bench/profile.ts [N] [V]       # default GPT-2 size, 2048 × 50257
 */
import { Session } from "node:inspector/promises";
import { CE_PARAMS_BYTES, writeCrossEntropyParams } from "../src/backends/wasm/abi.js";
import { WasmInstance } from "../src/backends/wasm/instance.js";
import { detectFeatures } from "../src/backends/wasm/loader.js";
import { createEngine } from "../src/index.js";

const n = Number(process.argv[2] ?? 2048);
const v = Number(process.argv[3] ?? 50257);

// 1. The kernel's parts on 16 rows that stay in L2, best of many repetitions.
const inst = await WasmInstance.create("own");
const rows = 16;
const x = inst.alloc(rows * v * 4);
const g = inst.alloc(rows * v * 4);
const t = inst.alloc(rows * 4);
const rl = inst.alloc(rows * 8);
const ls = inst.alloc(rows * 8);
inst.f32(x, rows * v).forEach((_, i, a) => (a[i] = Math.sin(i * 0.618) * 4));
inst.i32(t, rows).forEach((_, i, a) => (a[i] = (i * 7919) % v));
const neg = inst.alloc(rows * v * 4);
inst.f32(neg, rows * v).forEach((_, i, a) => (a[i] = -8 * Math.abs(Math.sin(i * 0.618))));
function best(f: () => void): number {
  let b = Infinity;
  for (let r = 0; r < 60; r++) {
    const t0 = performance.now();
    f();
    b = Math.min(b, performance.now() - t0);
  }
  return (b * 1e6) / (rows * v);
}
const params = (grad: number): number => {
  const p = inst.alloc(CE_PARAMS_BYTES);
  const spec = { labelSmoothing: 0, zLoss: 0, softcap: 0, temperature: 1, gradScale: 1 / rows, classWeightSum: v };
  writeCrossEntropyParams(inst, p, { ...spec, logits: x, grad, target: t, probs: 0, classWeight: 0, rowLoss: rl, lse: ls, v, argmax: 0, entropy: 0 });
  return p;
};
const [pf, pb] = [params(0), params(g)];
const part = {
  exp: best(() => inst.exports.expArray(neg, g, rows * v)),
  fwd: best(() => inst.exports.crossEntropyRows(pf, 0, rows, 0)),
  fwdbwd: best(() => inst.exports.crossEntropyRows(pb, 0, rows, 0)),
};
console.log(`relaxed SIMD: ${detectFeatures().relaxedSimd}`);
console.log(`in cache, ns/element: exp ${part.exp.toFixed(3)}, fwd ${part.fwd.toFixed(3)}, fwd+bwd ${part.fwdbwd.toFixed(3)}`);
console.log(`  => fwd+bwd is ${((100 * part.exp) / part.fwdbwd).toFixed(0)}% exp; the max pass, the sums and the gradient scaling take the rest`);

// 2. A CPU profile of the engine at full size (one thread, zero-copy, fresh gradient).
const e = await createEngine({ backend: "wasm", threads: 1 });
const logits = e.alloc(n * v);
for (let i = 0; i < logits.length; i++) logits[i] = Math.sin(i * 0.618) * 4;
const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
const step = async (): Promise<void> => {
  const r = await e.crossEntropy(logits, target, { classes: v, grad: true });
  e.free(r.grad as Float32Array);
};
await step();
// Back-to-back calls (not interleaved with anything): median of 8, fresh gradient and inplace.
const orig = logits.slice();
const med = (a: number[]): number => a.sort((p, q) => p - q)[a.length >> 1]!;
const fresh: number[] = [];
const inpl: number[] = [];
for (let k = 0; k < 8; k++) {
  let t1 = performance.now();
  await step();
  fresh.push(performance.now() - t1);
  t1 = performance.now();
  await e.crossEntropy(logits, target, { classes: v, grad: true, inplace: true });
  inpl.push(performance.now() - t1);
  logits.set(orig);
}
console.log(`engine fwd+bwd at ${n}×${v}, 1 thread, back to back: median ${med(fresh).toFixed(1)} ms (fresh gradient), ${med(inpl).toFixed(1)} ms (inplace)`);
const session = new Session();
session.connect();
await session.post("Profiler.enable");
await session.post("Profiler.setSamplingInterval", { interval: 200 });
await session.post("Profiler.start");
const t0 = performance.now();
const calls = 5;
for (let k = 0; k < calls; k++) await step();
const wall = (performance.now() - t0) / calls;
const { profile } = await session.post("Profiler.stop");
const self = new Map<string, number>();
const dt = profile.timeDeltas ?? [];
const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
(profile.samples ?? []).forEach((id, k) => {
  const nd = byId.get(id)!;
  const file = nd.callFrame.url.split("/").at(-1) ?? "";
  const name = `${nd.callFrame.functionName || "(anonymous)"}${file ? ` [${file}]` : ""}`;
  self.set(name, (self.get(name) ?? 0) + (dt[k] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
console.log(`engine fwd+bwd at ${n}×${v}, 1 thread: ${wall.toFixed(1)} ms per call (${((wall * 1e6) / (n * v)).toFixed(3)} ns/element); self time by function:`);
for (const [name, us] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
  console.log(`  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${name}`);
}
console.log("  (the module has no name section: wasm-function[7] is expSum, pass 2: exp, store, sum; [12] is crossEntropyRows:");
console.log("   pass 1 max, pass 3 gradient scaling, per-row work. Indices from `npx asc src/backends/wasm/kernel/index.ts --textFile`.)");
e.dispose();
