/**
 * The thread pool (src/backends/wasm/pool.ts): jobs published in shared memory, joined by the
 * workers that are awake. A `local` job whose calling thread is held up is finished by the
 * workers; one whose workers sleep is finished by the calling thread; either way the results are
 * the bits of the job run on one thread. (Failures, disposal and thread-count determinism are
 * tested through the engine in test/api/engine.test.ts, the split paths in test/slices/.)
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { lossSpec } from "../../../src/backends/common.js";
import { runJob } from "../../../src/backends/wasm/abi.js";
import { collect, rowsJob, stage, type Staged } from "../../../src/backends/wasm/crossEntropy.js";
import { WasmInstance } from "../../../src/backends/wasm/instance.js";
import { ThreadPool } from "../../../src/backends/wasm/pool.js";
import { genTargets, genValues } from "../../helpers/gen.js";

const N = 96;
const V = 1001;
let inst: WasmInstance;
let pool: ThreadPool;
let logits = 0;
before(async () => {
  inst = await WasmInstance.create("shared");
  pool = await ThreadPool.create(3, inst.module, inst.memory);
  logits = inst.alloc(N * V * 4);
  inst.f32(logits, N * V).set(genValues(N * V, 5, 6));
});
after(() => pool.terminate());

const target = Int32Array.from(genTargets(N, 9, V));
/** Stage the rows (a fresh gradient block); run `go` on its job; return the per-row results and the gradient. */
async function rows(go: (s: Staged) => Promise<void> | void): Promise<{ loss: number[]; lse: number[]; grad: number[] }> {
  const grad = inst.alloc(N * V * 4);
  try {
    const s = stage(inst, { n: N, v: V, target, probs: null, spec: lossSpec({ reduction: "none" }) }, logits, grad, 4);
    await go(s);
    const r = collect(inst, s, lossSpec({ reduction: "none" }));
    return { loss: typeof r.loss === "number" ? [r.loss] : Array.from(r.loss), lse: Array.from(r.lse), grad: Array.from(inst.f32(grad, N * V)) };
  } finally {
    inst.free(grad);
  }
}

test("pool: a local job whose calling thread is held up is done by the workers, with the one-thread bits", async () => {
  const want = await rows((s) => runJob(inst, rowsJob(s, N), 0, N, 3));
  let here = 0;
  const got = await rows((s) =>
    pool.run(rowsJob(s, N), undefined, (i0, i1) => {
      if (here === 0) {
        const until = performance.now() + 100; // the workers are woken before this runs
        while (performance.now() < until);
      }
      here += i1 - i0;
      runJob(inst, rowsJob(s, N), i0, i1, 3);
    }),
  );
  assert.ok(here < N, `the calling thread ran ${here} of ${N} rows: the workers took the rest`);
  assert.deepEqual(got, want);
});

test("pool: a local job finds its workers asleep and is done all the same; so is a job of the workers alone", async () => {
  const want = await rows((s) => runJob(inst, rowsJob(s, N), 0, N, 3));
  for (let round = 0; round < 3; round++) {
    await new Promise((resolve) => setTimeout(resolve, 20)); // longer than a worker spins
    const local = await rows((s) => pool.run(rowsJob(s, N), undefined, (i0, i1) => runJob(inst, rowsJob(s, N), i0, i1, 3)));
    assert.deepEqual(local, want, `round ${round}, local`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const workers = await rows((s) => pool.run(rowsJob(s, N)));
    assert.deepEqual(workers, want, `round ${round}, workers alone`);
  }
});

test("pool: chunks of rows by default, and with affinity one chunk per thread of items/(2·threads) then single items; the same bits", async () => {
  const want = await rows((s) => runJob(inst, rowsJob(s, N), 0, N, 3));
  // The pool has 3 threads; N = 96 rows: by default 8 claims per thread, chunks of 4 rows; with
  // affinity the first 3 claims are chunks of 16 rows (half the rows), then one row per claim.
  for (const [affinity, sizes] of [[false, [4]], [true, [16, 1]]] as const) {
    const seen: [number, number][] = [];
    // The workers may take every chunk before the calling thread claims one: try again then.
    for (let attempt = 0; attempt < 20 && seen.length === 0; attempt++) {
      const got = await rows((s) =>
        pool.run({ ...rowsJob(s, N), affinity }, undefined, (i0, i1) => {
          seen.push([i0, i1]);
          runJob(inst, rowsJob(s, N), i0, i1, 3);
        }),
      );
      assert.deepEqual(got, want, `affinity ${affinity}`);
    }
    const label = `affinity ${affinity}: the calling thread's chunks were ${seen.map(([a, b]) => `[${a}, ${b})`).join(" ")}`;
    assert.ok(seen.length > 0, label);
    for (const [i0, i1] of seen) {
      const size = i1 - i0;
      assert.ok((sizes as readonly number[]).includes(size), label);
      if (affinity) assert.ok(size === 16 ? i0 % 16 === 0 && i0 < 48 : i0 >= 48, label); // big chunks first, then single rows
      else assert.equal(i0 % 4, 0, label);
    }
  }
});

test("pool: awake() reads true while a worker spins after a job, false once it sleeps", async () => {
  // One worker, which runs every row of a job of workers alone: it is awake when the job ends.
  const one = await ThreadPool.create(1, inst.module, inst.memory);
  try {
    const sleepUntil = async (): Promise<boolean> => {
      for (let i = 0; i < 200; i++) {
        if (!one.awake(false)) return true;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return false;
    };
    assert.ok(await sleepUntil(), "the worker falls asleep after its spin (1 ms) with no job");
    assert.equal(one.awake(true), true, "a local job of a 1-thread pool uses no worker: nothing to wake");
    // Right after a job it spins for 1 ms; a test thread descheduled that long misses it: try again.
    let seen = false;
    for (let attempt = 0; attempt < 50 && !seen; attempt++) {
      await rows(async (s) => {
        await one.run(rowsJob(s, N));
        seen = one.awake(false);
      });
    }
    assert.ok(seen, "awake right after a job");
    assert.ok(await sleepUntil(), "asleep again after the spin");
  } finally {
    one.terminate();
  }
});
