/**
 * The fused linear head (linearCrossEntropy) on the WebGPU executor, in one test process so that
 * each kernel variant compiles once: the linear conformance cases (test/linear/cases.ts) against
 * the materialised float64 oracle, run on the executor itself; shapes whose D and V are
 * multiples of 4 (the vec4 variants) or only D is, across 64-wide tiles and chunk boundaries;
 * the weight in vocabulary blocks under a small binding limit; bitwise repeatability; the
 * engine's routing (float32 on the GPU, float64 and the argmax/entropy outputs on the CPU).
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { linearArgs, linearOutput, linearShape } from "../../src/api/linearCrossEntropy.js";
import { resolveLinear } from "../../src/api/resolve.js";
import { planLinear, type WebGpuExecutor } from "../../src/backends/webgpu/index.js";
import { createEngine, linearCrossEntropy, type LinearCrossEntropyOptions, type LinearCrossEntropyOutput } from "../../src/index.js";
import { linearTolerance } from "../conformance/matrix.js";
import { linearCases } from "../linear/cases.js";
import { assertClose, type LinearCase, materialise, randomArray, rng } from "../linear/oracle.js";
import { openExecutor } from "./setup.js";

/** linearCrossEntropy through the public option handling, run on the executor itself (no CPU fallback). */
async function runOn(ex: WebGpuExecutor, c: LinearCase, options: LinearCrossEntropyOptions): Promise<LinearCrossEntropyOutput> {
  const r = resolveLinear("test", c.hidden, c.weight, c.target, options);
  assert.equal(ex.supports(linearShape(r)), true, `${c.name}: the executor runs it`);
  const args = linearArgs(r);
  return linearOutput(args, await ex.linearCrossEntropy(args), args.gradWeight);
}

function compare(c: LinearCase, name: string, got: LinearCrossEntropyOutput, grad: boolean, want = materialise(c)): void {
  const tol = (x: number | ArrayLike<number>) => linearTolerance("float32", x);
  assertClose(got.loss, want.loss, tol(want.loss), `${name}: loss`);
  assertClose(got.lse, want.lse, tol(want.lse), `${name}: lse`);
  if (!grad) {
    assert.equal(got.gradHidden, undefined, `${name}: no gradient asked`);
    return;
  }
  assertClose(got.gradHidden!, want.gradHidden, tol(want.gradHidden), `${name}: gradHidden`);
  assertClose(got.gradWeight!, want.gradWeight, tol(want.gradWeight), `${name}: gradWeight`);
  if (c.options.bias !== undefined) assertClose(got.gradBias!, want.gradBias, tol(want.gradBias), `${name}: gradBias`);
  else assert.equal(got.gradBias, undefined, `${name}: no bias, no gradBias`);
}

/** A float32 case with every option (temperature included) on an (N, D, V) shape. */
function richCase(seed: number, n: number, d: number, v: number, options: Record<string, unknown>): LinearCase {
  const rand = rng(seed);
  const classWeight = Array.from({ length: v }, () => 0.25 + 2 * rand());
  const bias = Array.from({ length: v }, () => rand() - 0.5);
  const target = Array.from({ length: n }, (_, i) => (i % 5 === 2 ? -100 : Math.floor(rand() * v)));
  return {
    name: `N=${n} D=${d} V=${v} ${JSON.stringify(options)}`,
    n, d, v,
    hidden: randomArray(n * d, 1.5, rand, true),
    weight: randomArray(v * d, 1, rand, true),
    target,
    options: { classWeight, bias, labelSmoothing: 0.1, zLoss: 0.01, softcap: 4, temperature: 1.3, ...options },
  };
}

test("planLinear: chunk rows and weight blocks under the binding and dispatch limits", () => {
  const limits = { maxBindingBytes: 4096, offsetAlignment: 256, maxWorkgroups: 65535 };
  assert.deepEqual(planLinear(100, 8, 16, 50, limits), { rows: 50, vBlock: 16, blocks: 1, slices: 1 });
  assert.deepEqual(planLinear(100, 8, 16, 80, limits), { rows: 64, vBlock: 16, blocks: 1, slices: 1 }); // 64 rows of V = 16 fit
  assert.deepEqual(planLinear(10, 20, 136, 8, limits), { rows: 7, vBlock: 48, blocks: 3, slices: 1 }); // 51 weight rows fit: blocks of 48
  assert.deepEqual(planLinear(5, 4, 3, 5, { ...limits, maxWorkgroups: 2 }), { rows: 2, vBlock: 3, blocks: 1, slices: 1 });
  assert.deepEqual(planLinear(9, 12, 1001, 4, { ...limits, maxBindingBytes: 2 ** 20 }), { rows: 4, vBlock: 1001, blocks: 1, slices: 3 }); // 3 slices of ≥ 256 classes
  // Llama 3's head under WebGPU's default 128 MiB binding: 261 rows of logits fit, cut to 256 (whole
  // 64-row tiles), 8 weight blocks, gradHidden's 4 × 32 tiles split 8 ways (1024 workgroups).
  assert.deepEqual(planLinear(2048, 2048, 128256, 512, { ...limits, maxBindingBytes: 2 ** 27 }), { rows: 256, vBlock: 16384, blocks: 8, slices: 8 });
  assert.deepEqual(planLinear(300, 4, 10, 300, { ...limits, maxBindingBytes: 4000 }), { rows: 64, vBlock: 10, blocks: 1, slices: 1 }); // 100 rows fit: 64
  assert.match(String(planLinear(1, 4, 1025, 1, limits)), /a row of 4100 bytes of logits exceeds the device's largest storage binding \(4096 bytes\)/);
  assert.match(String(planLinear(1, 257, 4, 1, limits)), /4 rows of D = 257 float32 exceed/);
});

const ex = await openExecutor();
// Bindings of at most 4 KiB or 8 KiB: the weight in several vocabulary blocks, chunks cut short.
const small = typeof ex === "string" ? ex : await openExecutor({ device: ex.device, maxBindingBytes: 4096 });
const mid = typeof ex === "string" ? ex : await openExecutor({ device: ex.device, maxBindingBytes: 8192 });

if (typeof ex === "string" || typeof small === "string" || typeof mid === "string") {
  test("webgpu linear head", { skip: typeof ex === "string" ? ex : String(small) }, () => {});
} else {
  test("the linear conformance cases (float32) on the GPU executor equal the float64 oracle", async () => {
    let checked = 0;
    for (const c of linearCases()) {
      if (!(c.hidden instanceof Float32Array)) continue;
      compare(c, c.name, await runOn(ex, c, { ...c.options, grad: true }), true);
      if (checked % 8 === 0) compare(c, `${c.name} no grad`, await runOn(ex, c, c.options), false);
      checked++;
    }
    assert.ok(checked >= 90, `${checked} cases`);
  });

  const shapes = [
    richCase(1, 37, 20, 136, { chunkSize: 8 }), // D and V multiples of 4: every operand vec4; 3 column tiles
    richCase(2, 66, 68, 101, { chunkSize: 66 }), // D a multiple of 4 above 64, V odd (GPT-2-like); 2 row tiles
    richCase(3, 9, 12, 1001, { chunkSize: 4, reduction: "none", temperature: 1 }), // gradHidden split in 3 slices of the vocabulary
    { ...richCase(4, 11, 16, 1000, { chunkSize: 3 }), name: "probs" }, // split, every operand vec4
  ];
  const p = shapes[3]!;
  const pr = rng(9);
  p.target = { probs: Array.from({ length: p.n }, () => Array.from({ length: p.v }, () => pr())).map((row) => row.map((x) => x / row.reduce((s, y) => s + y, 0))) };

  test("vec4 and mixed variants, 64-wide tiles, chunk boundaries, probability targets", async () => {
    for (const c of shapes) {
      const want = materialise(c);
      compare(c, c.name, await runOn(ex, c, { ...c.options, grad: true }), true, want);
      compare(c, `${c.name} no grad`, await runOn(ex, c, c.options), false, want);
    }
  });

  test("weight in vocabulary blocks under a small binding limit equals the oracle and the unblocked run", async () => {
    for (const c of shapes.slice(0, 3)) {
      const r = resolveLinear("test", c.hidden, c.weight, c.target, c.options);
      const plan = planLinear(c.n, c.d, c.v, r.chunkRows, { maxBindingBytes: 4096, offsetAlignment: 256, maxWorkgroups: 65535 });
      assert.ok(typeof plan !== "string" && plan.blocks >= 3, `${c.name}: several weight blocks (${JSON.stringify(plan)})`);
      const got = await runOn(small, c, { ...c.options, grad: true });
      compare(c, `${c.name} blocked`, got, true);
      const whole = await runOn(ex, c, { ...c.options, grad: true });
      assert.deepEqual(got.lse, whole.lse, `${c.name}: lse does not depend on the blocks`);
    }
  });

  test("gradHidden split over the vocabulary inside each of 4 weight blocks", async () => {
    const c = richCase(5, 6, 4, 2000, { chunkSize: 2 });
    const plan = planLinear(c.n, c.d, c.v, 2, { maxBindingBytes: 8192, offsetAlignment: 256, maxWorkgroups: 65535 });
    assert.deepEqual(plan, { rows: 1, vBlock: 512, blocks: 4, slices: 2 }); // chunks cut to the one row of logits a binding holds
    compare(c, c.name, await runOn(mid, c, { ...c.options, grad: true }), true);
  });

  test("bitwise repeatable; inputs untouched; scratch follows the chunk, not N×V", async () => {
    const c = shapes[0]!;
    const hidden = Float32Array.from(c.hidden);
    const weight = Float32Array.from(c.weight);
    const a = await runOn(ex, c, { ...c.options, grad: true });
    const b = await runOn(ex, c, { ...c.options, grad: true });
    assert.deepEqual(b, a);
    assert.deepEqual(c.hidden, hidden);
    assert.deepEqual(c.weight, weight);
    const chunked = await runOn(ex, c, { ...c.options, grad: true, chunkSize: 5 });
    assert.deepEqual(chunked.lse, a.lse, "lse does not depend on the chunking");
    assert.ok(chunked.scratchBytes >= 5 * c.v * 4 && chunked.scratchBytes < a.scratchBytes, `${chunked.scratchBytes} < ${a.scratchBytes}`);
    const blocked = await runOn(small, c, { ...c.options, grad: true });
    assert.deepEqual(await runOn(small, c, { ...c.options, grad: true }), blocked, "blocked runs repeat too");
  });

  test("the engine runs float32 on the GPU (zero-copy too), float64 and argmax/entropy on the CPU", async () => {
    const engine = await createEngine({ backend: "webgpu", device: ex.device });
    after(() => engine.dispose());
    const c = shapes[0]!;
    const opts = { ...c.options, grad: true };
    // The engine captured hidden and weight when the call was made: its extra memory.
    const uncaptured = (out: LinearCrossEntropyOutput, bytes: number): LinearCrossEntropyOutput => ({ ...out, scratchBytes: out.scratchBytes - bytes * (c.hidden.length + c.weight.length) });
    const got = await engine.linearCrossEntropy(c.hidden, c.weight, c.target, opts);
    assert.deepEqual(uncaptured(got, 4), await runOn(ex, c, opts), "float32: the executor's bits");
    // Zero-copy: hidden and weight in engine memory, gradWeight returned as a new engine block.
    const h = engine.alloc(c.hidden.length);
    h.set(c.hidden);
    const w = engine.alloc(c.weight.length);
    w.set(c.weight);
    const zc = await engine.linearCrossEntropy(h, w, c.target, opts);
    assert.deepEqual({ ...zc, scratchBytes: 0 }, { ...got, scratchBytes: 0 }, "zero-copy: the same bits");
    assert.ok(zc.gradWeight instanceof Float32Array);
    engine.free(zc.gradWeight); // throws unless it is an engine block
    engine.free(h);
    engine.free(w);
    assert.equal(engine.memoryStats().bytesInUse, 0);
    const h64 = Float64Array.from(c.hidden);
    const w64 = Float64Array.from(c.weight);
    assert.match(String(ex.supports({ kernel: "linearCrossEntropy", dtype: "float64", n: c.n, d: c.d, v: c.v, grad: true })), /float32/);
    assert.deepEqual(uncaptured(await engine.linearCrossEntropy(h64, w64, c.target, opts), 8), linearCrossEntropy(h64, w64, c.target, opts), "float64 on the CPU");
    const lm = { ...opts, argmax: true, entropy: true } as const;
    assert.match(String(ex.supports({ kernel: "linearCrossEntropy", dtype: "float32", n: c.n, d: c.d, v: c.v, grad: true, lmOutputs: true })), /argmax, accuracy or entropy/);
    const out = await engine.linearCrossEntropy(c.hidden, c.weight, c.target, lm);
    assert.ok(out.argmax instanceof Int32Array && typeof out.entropy === "number");
    assert.deepEqual(uncaptured(out, 4), linearCrossEntropy(c.hidden, c.weight, c.target, lm), "LM outputs on the CPU");
  });
}
