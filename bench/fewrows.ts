/**
 * Few rows, large vocabulary (scoring, generation): N = 1, 4, 8 at V = 128256 and 262144, float32,
 * fwd (loss only) and fwd+bwd (a gradient into a reused buffer). Side by side, interleaved call
 * by call so that the load of a shared machine falls on every configuration alike:
 *   rows, 1 thread        the fused kernel's row job on the calling thread (the engine before the split)
 *   rows, 2 workers       the row job on a pool of 2 (the engine at threads: 2 before the split)
 *   engine, threads: 1    createEngine({ threads: 1 }): the vocabulary split on the calling thread
 *   engine, threads: 2    createEngine({ threads: 2 }): the same slices on 2 workers (the same bits)
 * Engine calls take logits in engine memory (zero-copy); with a gradient, it is freed after each call.
 * Each figure is the median and the minimum of RUNS calls after WARMUP calls. Never part of `npm test`.
 *
 *   node scripts/build-wasm.mjs && node --import tsx bench/fewrows.ts [--runs 21]
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { lossSpec } from "../src/backends/common.js";
import { createEngine, type Engine } from "../src/index.js";
import type { CrossEntropyArgs } from "../src/backends/types.js";
import { runJob, type Job } from "../src/backends/wasm/abi.js";
import { rowsJob, stage, type Staged } from "../src/backends/wasm/crossEntropy.js";
import { WasmInstance } from "../src/backends/wasm/instance.js";
import { ThreadPool } from "../src/backends/wasm/pool.js";
import { genTargets, genValues } from "../test/helpers/gen.js";

const { values } = parseArgs({ options: { runs: { type: "string" } } });
const RUNS = Number(values.runs ?? 21);
const WARMUP = 3;

const inst = await WasmInstance.create("shared");
const pool = await ThreadPool.create(2, inst.module, inst.memory);
const engines: [Engine, Engine] = [await createEngine({ backend: "wasm", threads: 1 }), await createEngine({ backend: "wasm", threads: 2 })];

interface Call {
  staged: Staged;
  x: [Float32Array, Float32Array];
  target: Int32Array;
  v: number;
  grad: boolean;
}
type Config = { name: string; run: (c: Call) => Promise<void> };
const onEngine = (k: 0 | 1) => async (c: Call): Promise<void> => {
  const e = engines[k];
  const out = await e.crossEntropy(c.x[k], c.target, { classes: c.v, grad: c.grad });
  if (out.grad instanceof Float32Array) e.free(out.grad);
};
const configs: Config[] = [
  { name: "rows, 1 thread", run: async (c) => runJob(inst, rowsJob(c.staged, c.staged.n), 0, c.staged.n) },
  { name: "rows, 2 workers", run: (c) => pool.run(rowsJob(c.staged, c.staged.n)) },
  { name: "engine, threads: 1", run: onEngine(0) },
  { name: "engine, threads: 2", run: onEngine(1) },
];

const stat = (xs: number[]): { median: number; min: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
};
const fmt = (x: number): string => (x < 1 ? x.toFixed(3) : x.toFixed(2));

console.log(`Node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"} × ${os.availableParallelism()}, load ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}; ${RUNS} runs after ${WARMUP} warm-up`);
console.log("");
console.log(`| N | V | pass | ${configs.map((c) => c.name).join(" | ")} | threads: 2 vs 1 (median, min) |`);
console.log(`|---|---|---|${configs.map(() => "---|").join("")}---|`);
for (const v of [128256, 262144]) {
  for (const n of [1, 4, 8]) {
    const size = n * v;
    const data = genValues(size, n + v, 8);
    const target = genTargets(n, n, v);
    const x = inst.alloc(size * 4);
    const g = inst.alloc(size * 4);
    inst.f32(x, size).set(data);
    const ex: [Float32Array, Float32Array] = [engines[0].alloc(size), engines[1].alloc(size)];
    for (const a of ex) a.set(data);
    const args: CrossEntropyArgs = {
      logits: inst.f32(x, size), n, v, target, probs: null,
      spec: lossSpec(), gradOut: null,
    };
    for (const grad of [false, true]) {
      const staged = stage(inst, args, x, grad ? g : 0, 2);
      const call: Call = { staged, x: ex, target, v, grad };
      const times = configs.map(() => [] as number[]);
      for (let r = 0; r < WARMUP + RUNS; r++) {
        for (let k = 0; k < configs.length; k++) {
          const t0 = performance.now();
          await configs[k]!.run(call);
          const dt = performance.now() - t0;
          if (r >= WARMUP) times[k]!.push(dt);
        }
      }
      for (const p of staged.temps) inst.free(p);
      const st = times.map(stat);
      const cells = st.map((s) => `${fmt(s.median)} (${fmt(s.min)})`);
      const ratio = `${(st[2]!.median / st[3]!.median).toFixed(2)}× (${(st[2]!.min / st[3]!.min).toFixed(2)}×)`;
      console.log(`| ${n} | ${v} | ${grad ? "fwd+bwd" : "fwd"} | ${cells.join(" | ")} | ${ratio} |`);
    }
    inst.free(x);
    inst.free(g);
    for (let k = 0; k < 2; k++) engines[k]!.free(ex[k]!);
  }
}
// The floor under any pooled call: one job whose workers find nothing to do (post, wake, reply).
const empty: Job = { kernel: "rowStats", params: 0, items: 0, scratch: 0, scratchStride: 0 };
const rt: number[] = [];
for (let r = 0; r < WARMUP + 4 * RUNS; r++) {
  const t0 = performance.now();
  await pool.run(empty);
  if (r >= WARMUP) rt.push(performance.now() - t0);
}
const rts = stat(rt);
console.log("");
console.log(`Pool round trip (an empty job on 2 workers): median ${fmt(rts.median)} ms, min ${fmt(rts.min)} ms; fwd+bwd on slices takes two.`);
pool.terminate();
for (const e of engines) e.dispose();
