// The engine beyond the conformance matrix (test/conformance/): determinism across thread counts,
// worker failures, queueing, disposal, memory limits, input capture and freed views, and its
// argument checks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { engineExecutor } from "../../src/api/engine.js";
import { WasmExecutor } from "../../src/backends/wasm/executor.js";
import { createEngine, crossEntropy, linearCrossEntropy, type CrossEntropyOutput, type Engine } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { rng } from "../helpers/gen.js";

/** Float32 outputs against a reference output: loss and lse within 2e-6 relative, the gradient within 1e-6 + 1e-4·|g|. */
function assertMatches(got: CrossEntropyOutput, want: CrossEntropyOutput, label: string): void {
  const value = { atol: 1e-6, rtol: 2e-6 };
  assertClose(got.loss, want.loss, value, `${label}: loss`);
  assertClose(got.lse, want.lse, value, `${label}: lse`);
  assert.equal(got.grad === undefined, want.grad === undefined, `${label}: grad presence`);
  if (want.grad !== undefined) assertClose(got.grad!, want.grad, { atol: 1e-6, rtol: 1e-4 }, `${label}: grad`);
}

async function withEngine<T>(options: Parameters<typeof createEngine>[0], f: (e: Engine) => Promise<T>): Promise<T> {
  const e = await createEngine(options);
  try {
    return await f(e);
  } finally {
    e.dispose();
  }
}

test("engine: loss, lse and gradient are bitwise identical for 1, 2, 3 and 8 threads", async () => {
  const r = rng(7);
  const n = 67;
  const v = 1003;
  const x = Float32Array.from({ length: n * v }, () => (r() * 2 - 1) * 8);
  const t = Array.from({ length: n }, (_, i) => (i % 11 === 0 ? -100 : Math.floor(r() * v)));
  const w = Array.from({ length: v }, () => r() + 0.1);
  const optionSets = [{}, { reduction: "none" as const }, { labelSmoothing: 0.1, weight: w, zLoss: 1e-3, softcap: 5 }];
  const results: CrossEntropyOutput[][] = [];
  for (const threads of [1, 2, 3, 8]) {
    results.push(
      await withEngine({ backend: "wasm", threads }, async (e) => {
        const out: CrossEntropyOutput[] = [];
        for (const o of optionSets) {
          const res = await e.crossEntropy(x, t, { classes: v, grad: true, ...o });
          out.push(res);
          out.push(await e.crossEntropy(x, t, { classes: v, ...o })); // forward only: the online pass
        }
        return out;
      }),
    );
  }
  for (let k = 1; k < results.length; k++) {
    for (let c = 0; c < results[0]!.length; c++) {
      assert.deepEqual(results[k]![c], results[0]![c], `threads set ${k}, case ${c}`);
    }
  }
});

for (const fault of ["throw", "exit", "trap"] as const) {
  test(`engine: a worker that fails (${fault}) fails the call with a clear error, and the pool recovers`, async () => {
    await withEngine({ backend: "wasm", threads: 2 }, async (e) => {
      const x = Float32Array.from({ length: 40 * 50 }, (_, i) => Math.sin(i));
      const t = Array.from({ length: 40 }, (_, i) => i);
      const ok = await e.crossEntropy(x, t, { classes: 50, grad: true });
      const ex = engineExecutor(e);
      assert.ok(ex instanceof WasmExecutor);
      ex.fault = fault;
      await assert.rejects(e.crossEntropy(x, t, { classes: 50, grad: true }), (err: Error) => {
        assert.match(err.message, /^xent engine: crossEntropy failed in the thread pool: worker 0 /);
        return true;
      });
      assert.equal(e.memoryStats().bytesInUse, 0, "the failed call freed its temporaries");
      const again = await e.crossEntropy(x, t, { classes: 50, grad: true });
      assert.deepEqual(again, ok);
    });
  });
}

test("engine: calls queue in order; validation errors reject and name the argument", async () => {
  await withEngine({ backend: "wasm", threads: 2 }, async (e) => {
    const x = new Float32Array([1, 2, 3, 4, 5, 6]);
    const [a, b] = await Promise.all([e.crossEntropy(x, [0, 1], { classes: 3 }), e.crossEntropy(x, [2, 2], { classes: 3 })]);
    assertMatches(a, crossEntropy(x, [0, 1], { classes: 3, backend: "reference" }), "first of two queued calls");
    assertMatches(b, crossEntropy(x, [2, 2], { classes: 3, backend: "reference" }), "second of two queued calls");
    await assert.rejects(e.crossEntropy(x, [0, 3], { classes: 3 }), /engine\.crossEntropy: target\[1\] = 3 is out of range/);
    await assert.rejects(e.crossEntropy(x, [0, 1], { classes: 4 }), RangeError);
    assert.throws(() => e.alloc(-1), /engine\.alloc: n is -1/);
    assert.throws(() => e.free(new Float32Array(4)), /engine\.free: buffer is a Float32Array of length 4, not a live block/);
    const blk = e.alloc(8);
    e.free(blk);
    assert.throws(() => e.free(blk), RangeError, "a double free is refused");
  });
  await assert.rejects(createEngine({ threads: 0 }), /createEngine: options\.threads is 0; expected an integer from 1 to 64/);
  for (const bad of [-1, 1001, Number.NaN, Number.POSITIVE_INFINITY, "5"]) {
    await assert.rejects(createEngine({ threads: 2, spinMs: bad as number }), /createEngine: options\.spinMs is .*; expected a number of milliseconds from 0 to 1000/, `spinMs ${String(bad)}`);
  }
  await assert.rejects(createEngine({ spin: 5 } as never), /createEngine: unknown option "spin"; expected backend, threads, spinMs, device/);
  await assert.rejects(createEngine({ backend: "gpu" as "js" }), /createEngine: options\.backend is "gpu"/);
});

test('engine options: "device" only with backend "webgpu", and a GPUDevice; "auto" never picks webgpu; webgpu is engine-only', async () => {
  const fake = { queue: {}, createBuffer: () => null, createComputePipelineAsync: () => null };
  await assert.rejects(createEngine({ backend: "js", device: fake }), /createEngine: options\.device is given with backend "js"; expected backend "webgpu"/);
  await assert.rejects(createEngine({ backend: "webgpu", device: {} as never }), /createEngine: options\.device is object without a GPUDevice.s members; expected a GPUDevice/);
  await assert.rejects(createEngine({ backend: "webgpu", device: fake }), /createEngine: options\.device is not a GPUDevice \(no limits or lost\)/);
  const auto = await createEngine();
  assert.notEqual(auto.backend, "webgpu", "auto picks a CPU backend");
  auto.dispose();
  assert.throws(() => crossEntropy([1, 2], [0], { classes: 2, backend: "webgpu" }), /crossEntropy: backend "webgpu" runs only in an engine \(await createEngine\(\{ backend: "webgpu" \}\)\)/);
});

test("engine: float64 logits run the js kernel; the js engine gives the same results", async () => {
  const x = Float64Array.from({ length: 20 }, (_, i) => Math.cos(i * 1.3) * 3);
  const t = [0, 3, 1, 4];
  const want = crossEntropy(x, t, { classes: 5, grad: true, backend: "js" });
  await withEngine({ backend: "wasm", threads: 2 }, async (e) => {
    assert.deepEqual(await e.crossEntropy(x, t, { classes: 5, grad: true }), want);
  });
  await withEngine({ backend: "js" }, async (e) => {
    assert.equal(e.backend, "js");
    assert.deepEqual(await e.crossEntropy(x, t, { classes: 5, grad: true }), want);
    const buf = e.alloc(20);
    buf.set(x);
    const got = await e.crossEntropy(buf, t, { classes: 5, grad: true });
    assertMatches(got, want, "js engine float32");
  });
});

test("engine: a disposed engine refuses work; disposing during a call fails that call", async () => {
  const e = await createEngine({ backend: "wasm", threads: 2 });
  // large enough (8 Mi logits) that the call is still running when setImmediate fires
  const x = new Float32Array(1024 * 8192);
  const inFlight = e.crossEntropy(x, new Array(1024).fill(0), { classes: 8192, grad: true });
  await new Promise((resolve) => setImmediate(resolve));
  e.dispose();
  await assert.rejects(inFlight, /disposed/);
  await assert.rejects(e.crossEntropy(new Float32Array(4), [0], { classes: 4 }), /disposed/);
});

test("engine: alloc takes up to 2^28 elements (1 GiB, the documented 2048 × 131072 block); beyond, a clear RangeError", async () => {
  await withEngine({ backend: "wasm", threads: 1 }, async (e) => {
    assert.throws(() => e.alloc(2 ** 28 + 1), /engine\.alloc: n is 268435457; expected an integer count of float32 elements from 0 to 2\^28 \(1 GiB per block\)/);
    const big = e.alloc(2048 * 131072);
    assert.equal(big.length, 2048 * 131072);
    big[big.length - 1] = 7;
    assert.equal(big[big.length - 1], 7);
    e.free(big);
    const again = e.alloc(2048 * 131072); // the freed large block is reused
    e.free(again);
    const x = e.alloc(8);
    x.set([1, 2, 3, 4, 5, 6, 7, 8]);
    const r = await e.crossEntropy(x, [1, 2], { classes: 4 });
    assertMatches(r, crossEntropy(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), [1, 2], { classes: 4, backend: "reference" }), "after the large blocks");
    e.free(x);
    assert.equal(e.memoryStats().bytesInUse, 0);
  });
});

for (const config of [{ backend: "wasm" as const, threads: 1 }, { backend: "wasm" as const, threads: 2 }, { backend: "js" as const }]) {
  const label = `${config.backend}${config.threads !== undefined ? ` ${config.threads}t` : ""}`;
  test(`engine (${label}) captures copied-in inputs when the call is made: changing them before it runs changes nothing`, async () => {
    await withEngine(config, async (e) => {
      const n = 3;
      const v = 5;
      const r = rng(11);
      const x0 = Float32Array.from({ length: n * v }, () => r() * 4 - 2);
      const t0 = [1, 4, 0];
      const w0 = [0.5, 1, 2, 1, 0.25];
      const p0 = Float32Array.from({ length: n * v }, () => 1 / v);
      const busy = e.crossEntropy(new Float32Array(64 * 2048).fill(1), new Int32Array(64), { classes: 2048, grad: true }); // queued before
      const x = x0.slice();
      const t = t0.slice();
      const w = w0.slice();
      const opts = { classes: v, weight: w, labelSmoothing: 0.1, grad: true };
      const pending = e.crossEntropy(x, t, opts);
      const probs = p0.slice();
      const pendingProbs = e.crossEntropy(x, { probs }, { classes: v });
      x.fill(0);
      t[0] = 3;
      w[1] = 9;
      opts.labelSmoothing = 0.9;
      probs.fill(0);
      await busy;
      const got = await pending;
      assertMatches(got, crossEntropy(x0, t0, { classes: v, weight: w0, labelSmoothing: 0.1, grad: true, backend: "reference" }), "index targets");
      assertMatches(await pendingProbs, crossEntropy(x0, { probs: p0 }, { classes: v, backend: "reference" }), "probability targets");
      const h0 = Float32Array.from({ length: n * 4 }, () => r() - 0.5);
      const W0 = Float32Array.from({ length: v * 4 }, () => r() - 0.5);
      const h = h0.slice();
      const W = W0.slice();
      const lin = e.linearCrossEntropy(h, W, t0, { grad: true });
      h.fill(0);
      W.fill(0);
      const want = linearCrossEntropy(h0, W0, t0, { grad: true, backend: "reference" });
      const gotLin = await lin;
      assert.ok(Math.abs((gotLin.loss as number) - (want.loss as number)) < 1e-5, `linear loss ${gotLin.loss} vs ${want.loss}`);
      assertMatches({ loss: 0, lse: gotLin.lse, grad: gotLin.gradWeight }, { loss: 0, lse: want.lse, grad: want.gradWeight }, "linear");
      assert.equal(e.memoryStats().bytesInUse, 0, "captured copies are freed");
    });
  });
}

test("engine: a freed engine view is refused as logits, probabilities, hidden or weight", async () => {
  for (const config of [{ backend: "wasm" as const, threads: 2 }, { backend: "js" as const }]) {
    await withEngine(config, async (e) => {
      const x = e.alloc(6);
      x.set([1, 2, 3, 4, 5, 6]);
      const ok = await e.crossEntropy(x, [0, 2], { classes: 3 });
      e.free(x);
      await assert.rejects(e.crossEntropy(x, [0, 2], { classes: 3 }), /engine\.crossEntropy: logits is a view of engine memory that has been freed/);
      const p = e.alloc(6);
      e.free(p);
      await assert.rejects(e.crossEntropy(new Float32Array(6), { probs: p }, { classes: 3 }), /engine\.crossEntropy: target\.probs is a view of engine memory that has been freed/);
      const h = e.alloc(4);
      e.free(h);
      await assert.rejects(e.linearCrossEntropy(h, new Float32Array(6), [0, 1]), /engine\.linearCrossEntropy: hidden is a view of engine memory that has been freed/);
      const y = e.alloc(6);
      y.set([1, 2, 3, 4, 5, 6]);
      assert.deepEqual(await e.crossEntropy(y, [0, 2], { classes: 3 }), ok, "a live block still works");
      e.free(y);
    });
  }
});

test("engine: probabilities in engine memory are used where they lie; others are copied in", async () => {
  await withEngine({ backend: "wasm", threads: 2 }, async (e) => {
    const n = 16;
    const v = 300;
    const size = n * v;
    const x = e.alloc(size);
    x.set(Float32Array.from({ length: size }, (_, i) => Math.sin(i)));
    const p = e.alloc(size);
    p.fill(1 / v);
    const peakOf = async (probs: Float32Array): Promise<number> => {
      e.resetPeakMemory();
      const base = e.memoryStats().bytesInUse;
      await e.crossEntropy(x, { probs }, { classes: v, grad: true, inplace: true });
      return e.memoryStats().peakBytes - base;
    };
    const owned = await peakOf(p);
    x.set(Float32Array.from({ length: size }, (_, i) => Math.sin(i)));
    const copied = await peakOf(p.slice());
    assert.ok(copied - owned >= size * 4, `engine-owned probs are not copied (${owned} vs ${copied} bytes)`);
    e.free(x);
    e.free(p);
    assert.equal(e.memoryStats().bytesInUse, 0);
  });
});
