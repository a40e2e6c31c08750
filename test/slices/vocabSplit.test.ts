/**
 * The few-rows path (src/backends/wasm/vocabSplit.ts): the vocabulary split into fixed slices
 * across the pool's workers gives bitwise the same loss, lse and gradient for any thread count
 * (the calling thread alone, 1, 2 and 3 workers), the same bits as the synchronous slice path on
 * the same boundaries, and the fused kernel's result within the float32 tolerances.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as refCe from "../../src/backends/reference/crossEntropy.js";
import type { CrossEntropyArgs, CrossEntropyResult } from "../../src/backends/types.js";
import { collect, stage } from "../../src/backends/wasm/crossEntropy.js";
import { WasmInstance } from "../../src/backends/wasm/instance.js";
import { createEngine, type Engine } from "../../src/index.js";
import { engineExecutor } from "../../src/api/engine.js";
import { WasmExecutor } from "../../src/backends/wasm/executor.js";
import { runJob } from "../../src/backends/wasm/abi.js";
import { ThreadPool } from "../../src/backends/wasm/pool.js";
import { sliceParts, useVocabSplit, VOCAB_SLICE, VOCAB_SPLIT_LOCAL_MAX, vocabSplit } from "../../src/backends/wasm/vocabSplit.js";
import { assertClose } from "../helpers/close.js";
import { genTargets, genValues } from "../helpers/gen.js";
import { argsOf, maxAbs, runSliced, wasmSlices, type SliceCase } from "./cases.js";

let shared: WasmInstance;
let own: WasmInstance;
const pools = new Map<number, ThreadPool>();
before(async () => {
  shared = await WasmInstance.create("shared");
  own = await WasmInstance.create("own");
  for (const t of [1, 2, 3]) pools.set(t, await ThreadPool.create(t, shared.module, shared.memory));
});
after(() => {
  for (const p of pools.values()) p.terminate();
});

/** Few-row cases of V classes (default: five slices, the last 1234 wide) for each N of `ns`. */
function fewRowCases(v = 4 * VOCAB_SLICE + 1234, ns: readonly number[] = [1, 3, 8]): SliceCase[] {
  const out: SliceCase[] = [];
  for (const n of ns) {
    const logits = genValues(n * v, n + 11, 8);
    const target = genTargets(n, n + 5, v);
    if (n > 1) target[1] = -1;
    const weight = Float64Array.from(genValues(v, 3, 1), (x) => Math.abs(x) + 0.1);
    const probs = Float64Array.from(new Float32Array(genValues(n * v, n + 2, 1).map((x) => Math.abs(x) / (v / 2))));
    const masked = Float64Array.from(logits);
    for (let k = 5; k < masked.length; k += 3) masked[k] = -Infinity;
    masked.fill(-Infinity, VOCAB_SLICE, 2 * VOCAB_SLICE); // row 0: a whole slice masked
    const base = { n, v, logits, target, probs: null, labelSmoothing: 0, weight: null, zLoss: 0, softcap: 0, reduction: "mean" as const };
    out.push({ ...base, name: `${n}x${v}/plain` });
    out.push({ ...base, name: `${n}x${v}/all-options`, labelSmoothing: 0.1, weight, zLoss: 1e-3, softcap: 30, reduction: "sum" });
    out.push({ ...base, name: `${n}x${v}/probs-all-options`, target: null, probs, labelSmoothing: 0.05, weight, zLoss: 1e-3, softcap: 30 });
    out.push({ ...base, name: `${n}x${v}/masked-none`, logits: masked, target: Int32Array.from(target, (y, i) => (y >= 0 && masked[i * v + y] === -Infinity ? -1 : y)), reduction: "none" });
  }
  return out;
}

/** Run a case through vocabSplit on `pool` (null: the calling thread), logits copied into shared memory; inplace when asked. */
async function runSplit(c: SliceCase, pool: ThreadPool | null, inplace: boolean): Promise<{ result: CrossEntropyResult; grad: Float32Array }> {
  const args = argsOf(c, true, false);
  const size = c.n * c.v;
  const x = shared.alloc(size * 4);
  const g = inplace ? x : shared.alloc(size * 4);
  try {
    shared.f32(x, size).set(args.logits);
    const staged = stage(shared, args, x, g, pool?.threads ?? 1);
    await vocabSplit(shared, async (job) => (pool === null ? runJob(shared, job, 0, job.items) : pool.run(job)), args, staged);
    const grad = shared.f32(g, size).slice();
    return { result: collect(shared, staged, args.spec), grad };
  } finally {
    shared.free(x);
    if (!inplace) shared.free(g);
  }
}

test("vocabSplit is chosen by shape alone", () => {
  assert.equal(useVocabSplit(1, 128256), true);
  assert.equal(useVocabSplit(8, 262144), true);
  assert.equal(useVocabSplit(9, 262144), false);
  assert.equal(useVocabSplit(4, 4 * VOCAB_SLICE - 1), false);
});

test("vocabSplit: identical bits for any thread count, equal to the slice path and close to the fused kernel", async () => {
  for (const c of fewRowCases()) {
    const first = await runSplit(c, null, false);
    const runs: [string, { result: CrossEntropyResult; grad: Float32Array }][] = [];
    for (const [t, pool] of pools) runs.push([`${t} workers`, await runSplit(c, pool, false)]);
    runs.push(["2 workers, inplace", await runSplit(c, pools.get(2)!, true)]);
    for (const [label, r] of runs) {
      assert.ok(Object.is(r.result.loss, first.result.loss), `${c.name} ${label}: loss ${r.result.loss} vs ${first.result.loss}`);
      assert.deepEqual(r.result.rowLoss, first.result.rowLoss, `${c.name} ${label}: per-token loss bits`);
      assert.deepEqual(r.result.lse, first.result.lse, `${c.name} ${label}: lse bits`);
      assert.deepEqual(r.grad, first.grad, `${c.name} ${label}: gradient bits`);
    }
    // The synchronous slice path on the same boundaries: the same kernels and merge, the same bits.
    const bounds: number[] = [];
    for (let v0 = 0; v0 < c.v; v0 += VOCAB_SLICE) bounds.push(v0);
    bounds.push(c.v);
    const sliced = runSliced(wasmSlices(own), argsOf(c, true, true), bounds);
    assert.deepEqual(sliced.merged.rowLoss, first.result.rowLoss, `${c.name}: per-token loss bits as the slice path`);
    assert.deepEqual(sliced.merged.lse, first.result.lse, `${c.name}: lse bits as the slice path`);
    assert.deepEqual(sliced.grad, first.grad, `${c.name}: gradient bits as the slice path`);
    // And the float64 reference within the float32 tolerances.
    const refArgs: CrossEntropyArgs = argsOf(c, false, true);
    const want = refCe.crossEntropy(refArgs);
    const m = maxAbs(c.logits);
    assertClose(first.result.loss, want.loss, { atol: 2e-6 * m, rtol: 2e-6 }, `${c.name} loss`);
    assertClose(first.result.lse, want.lse, { atol: 2e-6 * m, rtol: 2e-6 }, `${c.name} lse`);
    assertClose(first.grad, refArgs.gradOut!, { atol: 1e-6, rtol: 1e-4 }, `${c.name} grad`);
  }
});

test("the engine splits few rows by vocabulary: identical bits at threads 1, 2 and 3, close to the reference", async () => {
  const engines: Engine[] = [];
  try {
    for (const threads of [1, 2, 3]) engines.push(await createEngine({ backend: "wasm", threads }));
    // 1 and 3 rows of 34002 classes on the calling thread alone; 8 rows of 34002 and of 66770 on the pool too
    const small = fewRowCases();
    const big = fewRowCases(8 * VOCAB_SLICE + 1234, [8]);
    assert.ok(small[4]!.n * small[4]!.v <= VOCAB_SPLIT_LOCAL_MAX && small[8]!.n * small[8]!.v > VOCAB_SPLIT_LOCAL_MAX);
    for (const c of [...small, ...big]) {
      const x = new Float32Array(c.logits);
      const target = c.target ?? { probs: new Float32Array(c.probs!) };
      const options = { classes: c.v, ignoreIndex: -1, reduction: c.reduction, labelSmoothing: c.labelSmoothing, zLoss: c.zLoss, grad: true, ...(c.weight ? { weight: c.weight } : {}), ...(c.softcap > 0 ? { softcap: c.softcap } : {}) };
      const outs = [];
      for (const e of engines) outs.push(await e.crossEntropy(x, target, options));
      for (let k = 1; k < outs.length; k++) {
        const label = `${c.name}, threads ${k + 1} vs 1`;
        if (typeof outs[0]!.loss === "number") assert.ok(Object.is(outs[k]!.loss, outs[0]!.loss), `${label}: loss ${String(outs[k]!.loss)} vs ${outs[0]!.loss}`);
        else assert.deepEqual(outs[k]!.loss, outs[0]!.loss, `${label}: per-token loss bits`);
        assert.deepEqual(outs[k]!.lse, outs[0]!.lse, `${label}: lse bits`);
        assert.deepEqual(outs[k]!.grad, outs[0]!.grad, `${label}: gradient bits`);
      }
      const refArgs: CrossEntropyArgs = argsOf(c, false, true);
      const want = refCe.crossEntropy(refArgs);
      const m = maxAbs(c.logits);
      const got = outs[0]!;
      if (typeof got.loss === "number") assertClose(got.loss, want.loss, { atol: 2e-6 * m, rtol: 2e-6 }, `${c.name} engine loss`);
      else assertClose(got.loss, want.rowLoss, { atol: 2e-6 * m, rtol: 2e-6 }, `${c.name} engine per-token loss`);
      assertClose(got.lse, want.lse, { atol: 2e-6 * m, rtol: 2e-6 }, `${c.name} engine lse`);
      assertClose(got.grad!, refArgs.gradOut!, { atol: 1e-6, rtol: 1e-4 }, `${c.name} engine grad`);
    }
  } finally {
    for (const e of engines) e.dispose();
  }
});

test("vocabSplit reuses its statistics views only while address, shape and memory buffer are the same", () => {
  // Own (non-shared) memory: growing it detaches the old buffer, so views kept from before would
  // read nothing.
  const ptr = own.alloc(5 * 8 * 5 * 3);
  try {
    own.f64(ptr, 5 * 5 * 3).set(Array.from({ length: 75 }, (_, i) => i));
    const first = sliceParts(own, ptr, 5, 3);
    assert.equal(sliceParts(own, ptr, 5, 3), first, "the same views for the same address, shape and buffer");
    assert.deepEqual([...first[2]!.sumExp], [33, 34, 35], "slice 2's sums");
    const other = sliceParts(own, ptr, 3, 5);
    assert.notEqual(other, first, "new views for another shape");
    assert.deepEqual([...other[1]!.max], [25, 26, 27, 28, 29], "slice 1's maxes, 5 rows");
    assert.notEqual(sliceParts(own, ptr + 16, 3, 5), other, "new views for another address");
    const kept = sliceParts(own, ptr, 5, 3);
    const big = own.alloc(own.memory.buffer.byteLength); // grows the memory, detaching its buffer
    try {
      assert.equal(kept[0]!.max.length, 0, "the old views are detached");
      const grown = sliceParts(own, ptr, 5, 3);
      assert.notEqual(grown, kept, "new views after the memory grew");
      assert.deepEqual([...grown[4]!.targetWeight], [72, 73, 74], "slice 4's last field, read after the growth");
    } finally {
      own.free(big);
    }
  } finally {
    own.free(ptr);
  }
});

/** One-row calls on 2-thread engines, each checked against a 1-thread engine's bits; `jobs()` counts the pool jobs of engines[0]. */
interface OneRowCalls {
  engines: Engine[];
  pool: ThreadPool;
  jobs(): number;
  same(e: Engine, label: string): Promise<void>;
  /** Call engines[0] back to back until a call runs on its pool (a busy machine may leave the woken worker off a core for a while). */
  untilPooled(): Promise<void>;
}

/**
 * Run `body` on 2-thread wasm engines with the given spinMs (undefined: the default) and N = 1 at
 * V = 4·8192 + 1234 (at most VOCAB_SPLIT_LOCAL_MAX logits); the engines are disposed after it.
 */
async function withOneRowCalls(spins: readonly (number | undefined)[], body: (h: OneRowCalls) => Promise<void>): Promise<void> {
  const [c] = fewRowCases(4 * VOCAB_SLICE + 1234, [1]);
  assert.ok(c!.n * c!.v <= VOCAB_SPLIT_LOCAL_MAX);
  const x = new Float32Array(c!.logits);
  const options = { classes: c!.v, reduction: "none" as const, grad: true };
  const one = await createEngine({ backend: "wasm", threads: 1 });
  const engines: Engine[] = [];
  try {
    for (const spinMs of spins) engines.push(await createEngine(spinMs === undefined ? { backend: "wasm", threads: 2 } : { backend: "wasm", threads: 2, spinMs }));
    const want = await one.crossEntropy(x, c!.target!, options);
    const ex = engineExecutor(engines[0]!);
    assert.ok(ex instanceof WasmExecutor);
    const pool = (ex as unknown as { pool: ThreadPool }).pool;
    const run = pool.run.bind(pool);
    let jobs = 0;
    pool.run = (...a: Parameters<ThreadPool["run"]>) => {
      jobs++;
      return run(...a);
    };
    const same = async (e: Engine, label: string): Promise<void> => {
      const got = await e.crossEntropy(x, c!.target!, options);
      assert.deepEqual(got.loss, want.loss, `${label}: per-token loss bits`);
      assert.deepEqual(got.lse, want.lse, `${label}: lse bits`);
      assert.deepEqual(got.grad, want.grad, `${label}: gradient bits`);
    };
    const untilPooled = async (): Promise<void> => {
      const deadline = performance.now() + 10_000;
      for (let k = 0; jobs === 0 && (k < 200 || performance.now() < deadline); k++) await same(engines[0]!, `back to back, call ${k}`);
      assert.ok(jobs > 0, "calls back to back ran on the pool");
    };
    await body({ engines, pool, jobs: () => jobs, same, untilPooled });
  } finally {
    one.dispose();
    for (const e of engines) e.dispose();
  }
}

test("the engine's small few-row calls take the workers only while they are awake: the same bits either way", async () => {
  // Back to back, a call finds the workers awake and runs on the pool; after 20 ms without a call
  // they sleep, the call runs on the calling thread alone and does not wake them.
  await withOneRowCalls([undefined], async ({ engines: [engine], pool, jobs, same, untilPooled }) => {
    await untilPooled();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i === 0 || (i < 100 && pool.awake(true)); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(pool.awake(true), false, "the worker sleeps after 20 ms without a call");
      const before = jobs();
      await same(engine!, `after a pause, round ${round}`);
      assert.equal(jobs(), before, "after a pause, the calling thread alone");
      assert.equal(pool.awake(true), false, "and the worker was left asleep");
    }
  });
});

test("the engine's spinMs keeps the workers awake across shorter pauses, so small few-row calls still take them: the same bits", async () => {
  await withOneRowCalls([500, 0], async ({ engines: [engine, never], pool, jobs, same, untilPooled }) => {
    await untilPooled();
    // The worker sleeps only once 500 ms have passed on its own clock since its last job; a pause
    // that a busy machine stretched near that proves nothing, and is left out.
    let checked = 0;
    for (let round = 0; round < 5; round++) {
      const t0 = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const awake = pool.awake(true);
      const before = jobs();
      await same(engine!, `after a 20 ms pause, round ${round}`);
      if (performance.now() - t0 > 250) continue;
      assert.equal(awake, true, "the worker still spins 20 ms after a call");
      assert.ok(jobs() > before, "the call after a 20 ms pause ran on the pool");
      checked++;
    }
    assert.ok(checked > 0, "at least one pause stayed short enough to check");
    for (let k = 0; k < 5; k++) await same(never!, `spinMs 0, call ${k}`);
  });
});
