/**
 * engine.linearCrossEntropy beyond the conformance matrix (test/conformance/linear.test.ts):
 * bitwise determinism across thread counts, bad input, disposal, and the js engine.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createEngine, init, linearCrossEntropy, type Engine, type LinearCrossEntropyOutput } from "../../src/index.js";
import { gradHiddenCols } from "../../src/backends/wasm/abi.js";
import { randomArray, rng } from "./oracle.js";

async function withEngine<T>(threads: number, f: (e: Engine) => Promise<T>): Promise<T> {
  const e = await createEngine({ backend: "wasm", threads });
  try {
    return await f(e);
  } finally {
    e.dispose();
  }
}

test("engine.linearCrossEntropy is bitwise identical on 1, 2, 3 and 4 threads, LM outputs included (and matches the sync wasm backend)", async () => {
  // Several vocabulary blocks (256) and gradHidden column groups (64), odd sizes, every option.
  const n = 29, d = 70, v = 1100;
  const rand = rng(99);
  const hidden = randomArray(n * d, 1, rand, true) as Float32Array;
  const weight = randomArray(v * d, 0.3, rand, true) as Float32Array;
  const bias = randomArray(v, 0.5, rand, true) as Float32Array;
  const target = Array.from({ length: n }, (_, i) => (i % 9 === 4 ? -100 : Math.floor(rand() * v)));
  const options = { grad: true, bias, labelSmoothing: 0.1, zLoss: 0.01, softcap: 5, chunkSize: 6 } as const;
  const lm = { ...options, temperature: 0.8, denominator: 40, accuracy: true, argmax: true, entropy: true } as const;
  const outs: LinearCrossEntropyOutput[] = [];
  for (const threads of [1, 2, 3, 4]) {
    outs.push(await withEngine(threads, (e) => e.linearCrossEntropy(hidden, weight, target, options)));
    outs.push(await withEngine(threads, (e) => e.linearCrossEntropy(hidden, weight, target, { ...options, gradFilter: 1e-3 })));
    outs.push(await withEngine(threads, (e) => e.linearCrossEntropy(hidden, weight, target, lm)));
  }
  assert.ok(outs[2]!.argmax instanceof Int32Array && typeof outs[2]!.entropy === "number" && typeof outs[2]!.zLoss === "number");
  for (let t = 3; t < outs.length; t++) {
    const a = outs[t % 3]!;
    const b = outs[t]!;
    assert.equal(b.loss, a.loss, `loss, run ${t}`);
    assert.deepEqual(b.lse, a.lse, `lse, run ${t}`);
    assert.deepEqual(b.gradHidden, a.gradHidden, `gradHidden, run ${t}`);
    assert.deepEqual(b.gradWeight, a.gradWeight, `gradWeight, run ${t}`);
    assert.deepEqual(b.gradBias, a.gradBias, `gradBias, run ${t}`);
    assert.deepEqual([b.accuracy, b.argmax, b.entropy, b.zLoss], [a.accuracy, a.argmax, a.entropy, a.zLoss], `LM outputs, run ${t}`);
  }
  assert.ok(await init(), "the wasm backend registers");
  const sync = linearCrossEntropy(hidden, weight, target, { ...options, backend: "wasm" });
  assert.deepEqual(sync.gradWeight, outs[0]!.gradWeight, "the synchronous wasm backend runs the same kernels");
  assert.deepEqual(sync.gradHidden, outs[0]!.gradHidden);
  assert.deepEqual(linearCrossEntropy(hidden, weight, target, { ...lm, backend: "wasm" }), outs[2], "the LM outputs too");
});

test("gradHidden items of 256, 128 and 64 columns (D = 300 on 1, 2 and 3 threads) give the same bits", async () => {
  // The item width follows the thread count (gradHiddenCols); every element is still summed by
  // one item over the vocabulary in order, so the width must not change a bit.
  assert.deepEqual([1, 2, 3].map((t) => gradHiddenCols(300, t)), [256, 128, 64]);
  for (const [d, t] of [[64, 1], [768, 2], [768, 4], [768, 16], [2048, 2], [2048, 16], [20, 3]] as const) {
    const hc = gradHiddenCols(d, t);
    assert.ok(hc % 64 === 0 && hc >= 64 && hc <= 256, `width ${hc} for D = ${d}`);
    assert.ok(d < 64 * t || Math.ceil(d / hc) >= t, `D = ${d} on ${t} threads: at least one item per thread`);
  }
  const n = 9, d = 300, v = 700;
  const rand = rng(5);
  const hidden = randomArray(n * d, 1, rand, true) as Float32Array;
  const weight = randomArray(v * d, 0.3, rand, true) as Float32Array;
  const target = Array.from({ length: n }, () => Math.floor(rand() * v));
  const outs: LinearCrossEntropyOutput[] = [];
  for (const threads of [1, 2, 3]) outs.push(await withEngine(threads, (e) => e.linearCrossEntropy(hidden, weight, target, { grad: true, chunkSize: 4 })));
  for (const b of outs.slice(1)) {
    assert.equal(b.loss, outs[0]!.loss);
    assert.deepEqual(b.gradHidden, outs[0]!.gradHidden);
    assert.deepEqual(b.gradWeight, outs[0]!.gradWeight);
  }
});

test("engine.linearCrossEntropy: bad input is rejected with the engine's name, a disposed engine refuses, js engine agrees", async () => {
  const hidden = new Float32Array(12).fill(0.5);
  const weight = new Float32Array(20).fill(0.25);
  await withEngine(2, async (e) => {
    await assert.rejects(e.linearCrossEntropy(hidden, weight.subarray(1), [0, 1, 2]), /^RangeError: engine.linearCrossEntropy: weight has length 19, which is not a multiple of D = 4/);
    await assert.rejects(e.linearCrossEntropy(hidden, weight, [0, 1, 2], { bias: [1, 2] }), /engine.linearCrossEntropy: options.bias has length 2; expected V = 5/);
    await assert.rejects(e.linearCrossEntropy(hidden, weight, [0, 1, 2], { denominator: 4, reduction: "sum" }), /^TypeError: engine.linearCrossEntropy: options.denominator is given with reduction "sum"/);
    await assert.rejects(e.linearCrossEntropy(hidden, weight, { probs: new Float32Array(15) }, { classes: 5, accuracy: true }), /^TypeError: engine.linearCrossEntropy: options.accuracy needs class-index targets/);
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
  // The engine captured hidden and weight (12 and 20 float32) when the call was made: its extra memory.
  assert.deepEqual({ ...a, scratchBytes: a.scratchBytes - 4 * (12 + 20) }, b);
  js.dispose();
});
