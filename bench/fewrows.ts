/**
 * Few rows, large vocabulary (scoring, generation): N = 1, 4, 8 at V = 128256 and 262144, float32,
 * fwd (loss only) and fwd+bwd (a gradient into a reused buffer). Side by side, interleaved call
 * by call so that the load of a shared machine falls on every configuration alike:
 *   rows, 1 thread        the fused kernel on the calling thread (the engine at threads: 1 today)
 *   rows, 2 workers       the fused kernel's row job on a pool of 2 (the engine at threads: 2 today)
 *   slices, 1 thread      src/backends/wasm/vocabSplit.ts on the calling thread
 *   slices, 2 workers     the same slices on a pool of 2 (bitwise the same results)
 * Each figure is the median and the minimum of RUNS calls after WARMUP calls. Never part of `npm test`.
 *
 *   node scripts/build-wasm.mjs && node --import tsx bench/fewrows.ts [--runs 21]
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { lossSpec } from "../src/backends/common.js";
import type { CrossEntropyArgs } from "../src/backends/types.js";
import { runJob } from "../src/backends/wasm/abi.js";
import { rowsJob, stage, type Staged } from "../src/backends/wasm/crossEntropy.js";
import { WasmInstance } from "../src/backends/wasm/instance.js";
import { ThreadPool } from "../src/backends/wasm/pool.js";
import { vocabSplit, type SliceJob } from "../src/backends/wasm/vocabSplit.js";
import { genTargets, genValues } from "../test/helpers/gen.js";

const { values } = parseArgs({ options: { runs: { type: "string" } } });
const RUNS = Number(values.runs ?? 21);
const WARMUP = 3;

const inst = await WasmInstance.create("shared");
const pool = await ThreadPool.create(2, inst.module, inst.memory);

type Config = { name: string; run: (s: Staged, a: CrossEntropyArgs) => Promise<void> };
const configs: Config[] = [
  { name: "rows, 1 thread", run: async (s) => runJob(inst, rowsJob(s, s.n), 0, s.n) },
  { name: "rows, 2 workers", run: (s) => pool.run(rowsJob(s, s.n)) },
  { name: "slices, 1 thread", run: (s, a) => vocabSplit(inst, null, a, s) },
  { name: "slices, 2 workers", run: (s, a) => vocabSplit(inst, pool, a, s) },
];

const stat = (xs: number[]): { median: number; min: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
};
const fmt = (x: number): string => (x < 1 ? x.toFixed(3) : x.toFixed(2));

console.log(`Node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"} × ${os.availableParallelism()}, load ${os.loadavg().map((x) => x.toFixed(1)).join(" ")}; ${RUNS} runs after ${WARMUP} warm-up`);
console.log("");
console.log("| N | V | pass | rows, 1 thread | rows, 2 workers | slices, 1 thread | slices, 2 workers | slices 2 workers vs 1 thread (median, min) |");
console.log("|---|---|---|---|---|---|---|---|");
for (const v of [128256, 262144]) {
  for (const n of [1, 4, 8]) {
    const size = n * v;
    const x = inst.alloc(size * 4);
    const g = inst.alloc(size * 4);
    inst.f32(x, size).set(genValues(size, n + v, 8));
    const args: CrossEntropyArgs = {
      logits: inst.f32(x, size), n, v, target: genTargets(n, n, v), probs: null,
      spec: lossSpec(), gradOut: null,
    };
    for (const grad of [false, true]) {
      const staged = stage(inst, args, x, grad ? g : 0, 2);
      const times = configs.map(() => [] as number[]);
      for (let r = 0; r < WARMUP + RUNS; r++) {
        for (let k = 0; k < configs.length; k++) {
          const t0 = performance.now();
          await configs[k]!.run(staged, args);
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
  }
}
// The floor under any pooled call: one job whose workers find nothing to do (post, wake, reply).
const empty = { ...configsJob(), n: 0 };
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

function configsJob(): SliceJob {
  return { kind: "rowStats", n: 0, rows: 1, v: 1, width: 1, logits: 0, grad: 0, probs: 0, target: 0, weight: 0, scratch: 0, scratchStride: 4, stats: 0, merged: 0, eps: 0, s: 0, scale: 1, exps: false };
}
