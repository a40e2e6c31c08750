/**
 * The xent wasm engine as a server, so that bench/engine.ts can time it on several Node binaries
 * and interleave their calls with PyTorch's (bench/torch_server.py speaks the same protocol).
 *
 *   <node> --import tsx bench/engine_server.ts N V THREADS
 *
 * Answers one JSON line to each command on stdin:
 *   (on start)  {"ready": true, "node": ..., "relaxedSimd": ...}
 *   "peak"      extra engine memory of one fwd+bwd (fresh gradient), and of one inplace -> {"bytes", "inplaceBytes"}
 *   "fwd"       forward only                                          -> {"ms"}
 *   "fwdbwd"    forward + backward, a fresh gradient (freed after)    -> {"ms"}
 *   "inplace"   forward + backward over the logits (refilled before, outside the timing) -> {"ms"}
 *   "incache"   the kernel alone on 16 rows that stay in cache, fwd+bwd, best of 200 -> {"ns": per element}
 *   "quit"
 */
import { createInterface } from "node:readline";
import { lossSpec } from "../src/backends/common.js";
import { runJob } from "../src/backends/wasm/abi.js";
import { rowsJob, stage } from "../src/backends/wasm/crossEntropy.js";
import { WasmInstance } from "../src/backends/wasm/instance.js";
import { detectFeatures } from "../src/backends/wasm/loader.js";
import { createEngine } from "../src/index.js";

const [n, v, threads] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const e = await createEngine({ backend: "wasm", threads });
const x = e.alloc(n * v);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.618) * 4;
const orig = x.slice();
const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);

const timed = async (f: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};
const step = async (): Promise<void> => {
  const r = await e.crossEntropy(x, target, { classes: v, grad: true });
  e.free(r.grad as Float32Array);
};

/** The kernel on 16 rows of V in a module of its own (stays in L2): ns per element, best of 200. */
async function inCache(): Promise<number> {
  const inst = await WasmInstance.create("own");
  const rows = 16;
  const x = inst.alloc(rows * v * 4);
  const g = inst.alloc(rows * v * 4);
  inst.f32(x, rows * v).set(orig.subarray(0, rows * v));
  const spec = lossSpec();
  const job = rowsJob(stage(inst, { n: rows, v, target: target.subarray(0, rows), probs: null, spec }, x, g, 1), rows);
  let best = Infinity;
  for (let r = 0; r < 200; r++) {
    const t0 = performance.now();
    runJob(inst, job, 0, rows);
    best = Math.min(best, performance.now() - t0);
  }
  return (best * 1e6) / (rows * v);
}

const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
say({ ready: true, node: process.version, relaxedSimd: detectFeatures().relaxedSimd });
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = line.trim();
  if (cmd === "quit") break;
  if (cmd === "peak") {
    e.resetPeakMemory();
    let base = e.memoryStats().bytesInUse;
    await step();
    const bytes = e.memoryStats().peakBytes - base;
    e.resetPeakMemory();
    base = e.memoryStats().bytesInUse;
    await e.crossEntropy(x, target, { classes: v, grad: true, inplace: true });
    const inplaceBytes = e.memoryStats().peakBytes - base;
    x.set(orig);
    say({ bytes, inplaceBytes });
  } else if (cmd === "fwd") {
    say({ ms: await timed(() => e.crossEntropy(x, target, { classes: v })) });
  } else if (cmd === "fwdbwd") {
    say({ ms: await timed(step) });
  } else if (cmd === "inplace") {
    x.set(orig);
    say({ ms: await timed(() => e.crossEntropy(x, target, { classes: v, grad: true, inplace: true })) });
  } else if (cmd === "incache") {
    say({ ns: await inCache() });
  } else {
    say({ error: `unknown command ${cmd}` });
  }
}
e.dispose();
