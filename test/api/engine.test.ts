// The engine: threads, zero-copy buffers, determinism across thread counts, worker failures,
// and its argument checks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { injectWorkerFault } from "../../src/api/engine.js";
import { createEngine, crossEntropy, type CrossEntropyOutput, type Engine } from "../../src/index.js";
import { assertMatches, gridCases, rng } from "../backends/wasm/cases.js";

async function withEngine<T>(options: Parameters<typeof createEngine>[0], f: (e: Engine) => Promise<T>): Promise<T> {
  const e = await createEngine(options);
  try {
    return await f(e);
  } finally {
    e.dispose();
  }
}

for (const threads of [1, 2, 3]) {
  test(`engine (wasm, ${threads} threads) matches the reference on the grid, copied-in and zero-copy`, async () => {
    await withEngine({ backend: "wasm", threads }, async (e) => {
      assert.equal(e.backend, "wasm");
      assert.equal(e.threads, threads);
      for (const c of gridCases()) {
        const want = crossEntropy(c.logits, c.target, { ...c.options, backend: "reference", grad: true });
        const copied = await e.crossEntropy(c.logits, c.target, { ...c.options, grad: true });
        assertMatches(copied, want, `${c.name} copied`);
        const buf = e.alloc(c.logits.length);
        buf.set(c.logits);
        const zc = await e.crossEntropy(buf, c.target, { ...c.options, grad: true });
        assertMatches(zc, want, `${c.name} zero-copy`);
        assert.deepEqual(buf, c.logits, `${c.name}: engine logits unchanged`);
        assert.equal(zc.grad!.buffer, buf.buffer, `${c.name}: the gradient lives in engine memory`);
        e.free(zc.grad as Float32Array);
        const inpl = await e.crossEntropy(buf, c.target, { ...c.options, grad: true, inplace: true });
        assert.equal(inpl.grad, buf);
        assertMatches(inpl, want, `${c.name} inplace`);
        if (typeof c.target === "object" && "probs" in c.target) {
          // Probability targets in engine memory are used in place too.
          const p = e.alloc(c.logits.length);
          p.set(c.target.probs as Float32Array);
          buf.set(c.logits);
          e.resetPeakMemory();
          const base = e.memoryStats().bytesInUse;
          const zp = await e.crossEntropy(buf, { probs: p }, { ...c.options, grad: true, inplace: true });
          const ownedPeak = e.memoryStats().peakBytes - base;
          buf.set(c.logits);
          e.resetPeakMemory();
          await e.crossEntropy(buf, c.target, { ...c.options, grad: true, inplace: true });
          const copiedPeak = e.memoryStats().peakBytes - base;
          assert.ok(copiedPeak - ownedPeak >= c.logits.length * 4, `${c.name}: engine-owned probs are not copied (${ownedPeak} vs ${copiedPeak} bytes)`);
          assertMatches(zp, want, `${c.name} engine-owned probs`);
          assert.deepEqual(p, c.target.probs, `${c.name}: probs unchanged`);
          e.free(p);
        }
        e.free(buf);
      }
      assert.equal(e.memoryStats().bytesInUse, 0, "every temporary and block was freed");
    });
  });
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
      injectWorkerFault(e, fault);
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
  await assert.rejects(createEngine({ backend: "gpu" as "js" }), /createEngine: options\.backend is "gpu"/);
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
  const x = new Float32Array(256 * 4096);
  const inFlight = e.crossEntropy(x, new Array(256).fill(0), { classes: 4096, grad: true });
  await new Promise((resolve) => setImmediate(resolve));
  e.dispose();
  await assert.rejects(inFlight, /disposed/);
  await assert.rejects(e.crossEntropy(new Float32Array(4), [0], { classes: 4 }), /disposed/);
});

test("engine: an allocation beyond what wasm memory can hold is a RangeError, and the engine still works", async () => {
  await withEngine({ backend: "wasm", threads: 1 }, async (e) => {
    assert.throws(() => e.alloc(2 ** 30), /cannot allocate 4294967296 bytes of engine memory.*expected at most 1 GiB per block/);
    const x = e.alloc(8);
    x.set([1, 2, 3, 4, 5, 6, 7, 8]);
    const r = await e.crossEntropy(x, [1, 2], { classes: 4 });
    assertMatches(r, crossEntropy(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), [1, 2], { classes: 4, backend: "reference" }), "after a failed alloc");
  });
});
