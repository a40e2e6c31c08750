/**
 * engine.linearCrossEntropy: the wasm kernels on 1-3 threads against the materialised path,
 * zero-copy hidden and weight, bitwise determinism across thread counts, memory released.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createEngine, init, linearCrossEntropy, type Engine, type LinearCrossEntropyOutput } from "../../src/index.js";
import { linearCases } from "./cases.js";
import { assertClose, materialise, randomArray, rng } from "./oracle.js";

async function withEngine<T>(threads: number, f: (e: Engine) => Promise<T>): Promise<T> {
  const e = await createEngine({ backend: "wasm", threads });
  try {
    return await f(e);
  } finally {
    e.dispose();
  }
}

const maxAbs = (x: number | ArrayLike<number>): number => {
  const a = typeof x === "number" ? [x] : x;
  let m = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!)) m = Math.max(m, Math.abs(a[i]!));
  return m;
};
const tol = (x: number | ArrayLike<number>) => ({ atol: 2e-5 * Math.max(1, maxAbs(x)), rtol: 1e-4 });

// Every float32 case of the conformance suite (float64 ones run the js kernel).
const cases = linearCases().filter((c) => c.hidden instanceof Float32Array);
const wants = cases.map(materialise);

for (const threads of [1, 2, 3]) {
  test(`engine.linearCrossEntropy (wasm, ${threads} threads) matches the materialised path, copied-in and zero-copy`, async () => {
    await withEngine(threads, async (e) => {
      for (let k = 0; k < cases.length; k++) {
        const c = cases[k]!;
        const want = wants[k]!;
        const check = (out: Awaited<ReturnType<Engine["linearCrossEntropy"]>>, how: string) => {
          const label = `${c.name} ${how}`;
          assertClose(out.loss, want.loss, tol(want.loss), `${label}: loss`);
          assertClose(out.lse, want.lse, tol(want.lse), `${label}: lse`);
          assertClose(out.gradHidden!, want.gradHidden, tol(want.gradHidden), `${label}: gradHidden`);
          assertClose(out.gradWeight!, want.gradWeight, tol(want.gradWeight), `${label}: gradWeight`);
          if (c.options.bias !== undefined) assertClose(out.gradBias!, want.gradBias, tol(want.gradBias), `${label}: gradBias`);
        };
        check(await e.linearCrossEntropy(c.hidden, c.weight, c.target, { ...c.options, grad: true }), "copied");
        const h = e.alloc(c.hidden.length);
        h.set(c.hidden);
        const w = e.alloc(c.weight.length);
        w.set(c.weight);
        const zc = await e.linearCrossEntropy(h, w, c.target, { ...c.options, grad: true });
        check(zc, "zero-copy");
        assert.equal(zc.gradWeight!.buffer, w.buffer, "gradWeight of engine-owned weight lives in engine memory");
        e.free(zc.gradWeight as Float32Array);
        e.free(h);
        e.free(w);
      }
      assert.equal(e.memoryStats().bytesInUse, 0, "every temporary and block was freed");
    });
  });
}

test("engine.linearCrossEntropy is bitwise identical on 1, 2, 3 and 4 threads (and matches the sync wasm backend)", async () => {
  // Several vocabulary blocks (256) and gradHidden column groups (64), odd sizes, every option.
  const n = 29, d = 70, v = 1100;
  const rand = rng(99);
  const hidden = randomArray(n * d, 1, rand, true) as Float32Array;
  const weight = randomArray(v * d, 0.3, rand, true) as Float32Array;
  const bias = randomArray(v, 0.5, rand, true) as Float32Array;
  const target = Array.from({ length: n }, (_, i) => (i % 9 === 4 ? -100 : Math.floor(rand() * v)));
  const options = { grad: true, bias, labelSmoothing: 0.1, zLoss: 0.01, softcap: 5, chunkSize: 6 } as const;
  const outs: LinearCrossEntropyOutput[] = [];
  for (const threads of [1, 2, 3, 4]) {
    outs.push(await withEngine(threads, (e) => e.linearCrossEntropy(hidden, weight, target, options)));
    outs.push(await withEngine(threads, (e) => e.linearCrossEntropy(hidden, weight, target, { ...options, gradFilter: 1e-3 })));
  }
  for (let t = 2; t < outs.length; t++) {
    const a = outs[t % 2]!;
    const b = outs[t]!;
    assert.equal(b.loss, a.loss, `loss, run ${t}`);
    assert.deepEqual(b.lse, a.lse, `lse, run ${t}`);
    assert.deepEqual(b.gradHidden, a.gradHidden, `gradHidden, run ${t}`);
    assert.deepEqual(b.gradWeight, a.gradWeight, `gradWeight, run ${t}`);
    assert.deepEqual(b.gradBias, a.gradBias, `gradBias, run ${t}`);
  }
  assert.ok(await init(), "the wasm backend registers");
  const sync = linearCrossEntropy(hidden, weight, target, { ...options, backend: "wasm" });
  assert.deepEqual(sync.gradWeight, outs[0]!.gradWeight, "the synchronous wasm backend runs the same kernels");
  assert.deepEqual(sync.gradHidden, outs[0]!.gradHidden);
});

test("engine.linearCrossEntropy: bad input is rejected with the engine's name, a disposed engine refuses, js engine agrees", async () => {
  const hidden = new Float32Array(12).fill(0.5);
  const weight = new Float32Array(20).fill(0.25);
  await withEngine(2, async (e) => {
    await assert.rejects(e.linearCrossEntropy(hidden, weight.subarray(1), [0, 1, 2]), /^RangeError: engine.linearCrossEntropy: weight has length 19, which is not a multiple of D = 4/);
    await assert.rejects(e.linearCrossEntropy(hidden, weight, [0, 1, 2], { bias: [1, 2] }), /engine.linearCrossEntropy: options.bias has length 2; expected V = 5/);
    // The engine still works after a rejected call, and frees everything.
    const out = await e.linearCrossEntropy(hidden, weight, [0, 1, 2], { grad: true });
    assert.equal(typeof out.loss, "number");
    assert.equal(e.memoryStats().bytesInUse, 0);
  });
  const e = await createEngine({ backend: "wasm", threads: 1 });
  e.dispose();
  await assert.rejects(e.linearCrossEntropy(hidden, weight, [0, 1, 2]), /disposed/);
  const js = await createEngine({ backend: "js" });
  const a = await js.linearCrossEntropy(hidden, weight, [0, 1, 2], { grad: true });
  const b = linearCrossEntropy(hidden, weight, [0, 1, 2], { grad: true, backend: "js" });
  assert.deepEqual(a, b);
  js.dispose();
});
