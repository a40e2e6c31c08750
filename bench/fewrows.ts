/**
 * Few rows, large vocabulary (scoring, generation): N = 1, 4, 8 at V = 128256 and 262144, float32,
 * fwd (loss only) and fwd+bwd (a gradient into a reused buffer). Side by side, interleaved in
 * short blocks so that the load of a shared machine falls on every configuration alike:
 *   rows, 1 thread        the fused kernel's row job on the calling thread (no engine around it)
 *   engine, threads: 1    createEngine({ threads: 1 }): the vocabulary split on the calling thread
 *   engine, threads: 2    createEngine({ threads: 2 }): the same slices on the calling thread and a
 *                         worker (the same bits), calls back to back (the worker still spinning)
 *   threads: 1 / 2, idle  the same, each call after 5 ms without one (at 2, the worker asleep)
 * Then each shape on the two engines, and on a third of 2 threads whose workers spin --spin-ms
 * (default 10) before they sleep, in blocks of 50 calls --gaps ms apart (default 0, 2 and 5): one
 * row takes the worker only while it is awake, so its gain depends on the time between calls.
 * Each block is one untimed call, then BLOCK timed calls back to back (for "idle", each after a
 * 5 ms pause). With the default BLOCK of 5, a 2-thread block may start with its worker asleep
 * (the other configurations ran in between); `--block 1` times one call per block, right after
 * an untimed one, so the configurations alternate call by call, each in its steady state.
 * Engine calls take logits in engine memory (zero-copy); with a gradient, it is freed after each
 * call. Figures: median and minimum of RUNS timed calls. Never part of `npm test`.
 *
 *   node scripts/build-wasm.mjs && node --import tsx bench/fewrows.ts [--runs 25] [--block 5] [--spin-ms 10] [--gaps 0,2,5]
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { lossSpec } from "../src/backends/common.js";
import { createEngine, type Engine } from "../src/index.js";
import { engineExecutor } from "../src/api/engine.js";
import { WasmExecutor } from "../src/backends/wasm/executor.js";
import type { CrossEntropyArgs } from "../src/backends/types.js";
import { runJob, type Job } from "../src/backends/wasm/abi.js";
import { rowsJob, stage, type Staged } from "../src/backends/wasm/crossEntropy.js";
import { WasmInstance } from "../src/backends/wasm/instance.js";
import { ThreadPool } from "../src/backends/wasm/pool.js";
import { setTimeout as sleep } from "node:timers/promises";
import { genTargets, genValues } from "../test/helpers/gen.js";

const { values } = parseArgs({ options: { runs: { type: "string" }, block: { type: "string" }, "spin-ms": { type: "string" }, gaps: { type: "string" } } });
const RUNS = Number(values.runs ?? 25);
const WARMUP = 3;
const BLOCK = Number(values.block ?? 5);
if (!Number.isInteger(BLOCK) || BLOCK < 1 || RUNS % BLOCK !== 0) throw new Error(`fewrows: --block must be a positive integer that divides --runs (got ${values.block})`);
/** The third engine's spinMs in the steady-state table, and the times between calls there (ms). */
const SPIN_MS = Number(values["spin-ms"] ?? 10);
const GAPS = (values.gaps ?? "0,2,5").split(",").map(Number);
if (!(SPIN_MS >= 0 && SPIN_MS <= 1000)) throw new Error(`fewrows: --spin-ms must be a number from 0 to 1000 (got ${values["spin-ms"]})`);
if (GAPS.some((g) => !(g >= 0))) throw new Error(`fewrows: --gaps must be numbers of ms, comma-separated (got ${values.gaps})`);

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
type Config = { name: string; run: (c: Call) => Promise<void>; idle?: boolean };
const onEngine = (k: 0 | 1) => async (c: Call): Promise<void> => {
  const e = engines[k];
  const out = await e.crossEntropy(c.x[k], c.target, { classes: c.v, grad: c.grad });
  if (out.grad instanceof Float32Array) e.free(out.grad);
};
const configs: Config[] = [
  { name: "rows, 1 thread", run: async (c) => runJob(inst, rowsJob(c.staged, c.staged.n), 0, c.staged.n) },
  { name: "engine, threads: 1", run: onEngine(0) },
  { name: "engine, threads: 2", run: onEngine(1) },
  { name: "threads: 1, idle", run: onEngine(0), idle: true },
  { name: "threads: 2, idle", run: onEngine(1), idle: true },
];

const stat = (xs: number[]): { median: number; min: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
};
const fmt = (x: number): string => (x < 1 ? x.toFixed(3) : x.toFixed(2));

console.log(`Node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"} × ${os.availableParallelism()}, load ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}; ${RUNS} runs after ${WARMUP} warm-up, blocks of ${BLOCK}`);
console.log("");
console.log(`| N | V | pass | ${configs.map((c) => c.name).join(" | ")} | 2 vs 1 (median, min) | idle: 2 vs 1 (median) |`);
console.log(`|---|---|---|${configs.map(() => "---|").join("")}---|---|`);
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
      for (let k = 0; k < configs.length; k++) for (let r = 0; r < WARMUP; r++) await configs[k]!.run(call);
      for (let r = 0; r < RUNS; r += BLOCK) {
        for (let k = 0; k < configs.length; k++) {
          const { run, idle } = configs[k]!;
          await run(call);
          for (let b = 0; b < BLOCK; b++) {
            if (idle) await sleep(5);
            const t0 = performance.now();
            await run(call);
            times[k]!.push(performance.now() - t0);
          }
        }
      }
      for (const p of staged.temps) inst.free(p);
      const st = times.map(stat);
      const cells = st.map((s) => `${fmt(s.median)} (${fmt(s.min)})`);
      const ratio = `${(st[1]!.median / st[2]!.median).toFixed(2)}× (${(st[1]!.min / st[2]!.min).toFixed(2)}×)`;
      const idle = `${(st[3]!.median / st[4]!.median).toFixed(2)}×`;
      console.log(`| ${n} | ${v} | ${grad ? "fwd+bwd" : "fwd"} | ${cells.join(" | ")} | ${ratio} | ${idle} |`);
    }
    inst.free(x);
    inst.free(g);
    for (let k = 0; k < 2; k++) engines[k]!.free(ex[k]!);
  }
}
// Steady states: blocks of GAP_CALLS calls on each engine in turn, each call GAP ms after the last
// (a busy wait), and the share of the 2-thread engines' calls that ran on their pools; after each
// block a pause of SPIN_MS + 2 ms lets every worker fall asleep, so no block inherits a spinning
// worker from the one before. One row (at most VOCAB_SPLIT_LOCAL_MAX logits) takes the worker only
// while it is awake, so its gain depends on the time between calls; larger calls wake it and take
// it in any case. The third engine's workers spin SPIN_MS (createEngine's spinMs) instead of the
// default 1 ms, so calls up to that far apart find them awake.
const GAP_CALLS = 50;
const steady: Engine[] = [engines[0], engines[1], await createEngine({ backend: "wasm", threads: 2, spinMs: SPIN_MS })];
const pooled = [0, 0, 0];
for (const k of [1, 2]) {
  const ex = engineExecutor(steady[k]!);
  const p = ex instanceof WasmExecutor ? (ex as unknown as { pool: ThreadPool }).pool : null;
  if (p === null) continue;
  const run = p.run.bind(p);
  p.run = (...a: Parameters<ThreadPool["run"]>) => {
    pooled[k]!++;
    return run(...a);
  };
}
console.log("");
console.log(`| N | V | pass | ms between calls | threads: 1 | threads: 2 | 2 vs 1 (median, min) | on the pool | threads: 2, spinMs: ${SPIN_MS} | vs 1 (median, min) | on the pool |`);
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const v of [128256, 262144]) for (const n of [1, 4, 8]) {
  const ex = steady.map((e) => e.alloc(n * v));
  for (const a of ex) a.set(genValues(n * v, n + v, 8));
  const target = genTargets(n, n, v);
  for (const grad of [false, true]) {
    for (const gap of GAPS) {
      const times = steady.map(() => [] as number[]);
      const calls = [0, 0, 0];
      pooled.fill(0);
      for (let r = 0; r < Math.max(1, RUNS / GAP_CALLS) * 2; r++) {
        for (let k = 0; k < steady.length; k++) {
          const e = steady[k]!;
          for (let i = 0; i < GAP_CALLS; i++) {
            const until = performance.now() + gap;
            while (performance.now() < until);
            const t0 = performance.now();
            const pooledBefore = pooled[k]!;
            const out = await e.crossEntropy(ex[k]!, target, { classes: v, grad });
            if (out.grad instanceof Float32Array) e.free(out.grad);
            times[k]!.push(performance.now() - t0);
            calls[k]!++;
            if (pooled[k]! > pooledBefore) pooled[k] = pooledBefore + 1; // count calls, not jobs
          }
          await sleep(SPIN_MS + 2);
        }
      }
      const st = times.map(stat);
      const vs = (k: number): string => `${(st[0]!.median / st[k]!.median).toFixed(2)}× (${(st[0]!.min / st[k]!.min).toFixed(2)}×)`;
      const share = (k: number): string => `${Math.round((100 * pooled[k]!) / calls[k]!)}%`;
      const cell = (k: number): string => `${fmt(st[k]!.median)} (${fmt(st[k]!.min)})`;
      console.log(`| ${n} | ${v} | ${grad ? "fwd+bwd" : "fwd"} | ${gap} | ${cell(0)} | ${cell(1)} | ${vs(1)} | ${share(1)} | ${cell(2)} | ${vs(2)} | ${share(2)} |`);
    }
  }
  for (let k = 0; k < steady.length; k++) steady[k]!.free(ex[k]!);
}
steady[2]!.dispose();

// The floor under any pooled call: one job whose workers find nothing to do (publish, wake, leave),
// back to back and after 5 ms idle; with the calling thread taking part (local) and without.
const empty: Job = { kernel: "rowStats", params: 0, items: 0, scratch: 0, scratchStride: 0 };
console.log("");
for (const local of [true, false]) {
  for (const idle of [false, true]) {
    const rt: number[] = [];
    for (let r = 0; r < WARMUP + 4 * RUNS; r++) {
      if (idle) await sleep(5);
      const t0 = performance.now();
      await pool.run(empty, undefined, local ? () => undefined : undefined);
      if (r >= WARMUP) rt.push(performance.now() - t0);
    }
    const rts = stat(rt);
    console.log(`Pool round trip, an empty job on a pool of 2 ${local ? "(the calling thread and 1 worker)" : "(2 workers)"}, ${idle ? "after 5 ms idle" : "back to back"}: median ${fmt(rts.median)} ms, min ${fmt(rts.min)} ms`);
  }
}
pool.terminate();
for (const e of engines) e.dispose();
