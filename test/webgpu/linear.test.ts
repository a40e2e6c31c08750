/**
 * The fused linear head (linearCrossEntropy) on the WebGPU executor, in one test process so that
 * each kernel variant compiles once: the row-chunk conformance cases (test/linear/cases.ts) against
 * the materialised float64 oracle, run on the executor itself; shapes whose D and V are
 * multiples of 4 (the vec4 variants) or only D is, across 64-wide tiles and chunk boundaries;
 * the weight in vocabulary blocks under a small binding limit; bitwise repeatability; the
 * engine's routing (float32 on the GPU, float64 and the argmax/entropy outputs on the CPU). The
 * synchronous submission on GPU operands (engine.submitLinearCrossEntropy): the typed-array
 * path's bits at aligned and unaligned offsets with the weight's blocks bound at offsets, the
 * upstream factors of reduction "none", and every refusal's message.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { linearArgs, linearOutput, linearShape } from "../../src/api/linearCrossEntropy.js";
import { resolveGpuLinear, resolveLinear } from "../../src/api/resolve.js";
import { planLinear, type WebGpuExecutor } from "../../src/backends/webgpu/index.js";
import { createEngine, linearCrossEntropy, type LinearCrossEntropyOptions, type LinearCrossEntropyOutput } from "../../src/index.js";
import { linearTolerance } from "../conformance/matrix.js";
import { rowChunkCases } from "../linear/cases.js";
import { assertClose, type LinearCase, materialise, randomArray, rng } from "../linear/oracle.js";
import { openExecutor, readBack, upload } from "./setup.js";

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
const shapes = [
  richCase(1, 37, 20, 136, { chunkSize: 8 }), // D and V multiples of 4: every operand vec4; 3 column tiles
  richCase(2, 66, 68, 101, { chunkSize: 66 }), // D a multiple of 4 above 64, V odd (GPT-2-like); 2 row tiles
  richCase(3, 9, 12, 1001, { chunkSize: 4, reduction: "none", temperature: 1 }), // gradHidden split in 3 slices of the vocabulary
  { ...richCase(4, 11, 16, 1000, { chunkSize: 3 }), name: "probs" }, // split, every operand vec4
];
const p = shapes[3]!;
const pr = rng(9);
p.target = { probs: Array.from({ length: p.n }, () => Array.from({ length: p.v }, () => pr())).map((row) => row.map((x) => x / row.reduce((s, y) => s + y, 0))) };

// Bindings of at most 4 KiB or 8 KiB: the weight in several vocabulary blocks, chunks cut short.
const small = typeof ex === "string" ? ex : await openExecutor({ device: ex.device, maxBindingBytes: 4096 });
const mid = typeof ex === "string" ? ex : await openExecutor({ device: ex.device, maxBindingBytes: 8192 });

if (typeof ex === "string" || typeof small === "string" || typeof mid === "string") {
  test("webgpu linear head", { skip: typeof ex === "string" ? ex : String(small) }, () => {});
} else {
  test("the linear conformance cases (float32) on the GPU executor equal the float64 oracle", async () => {
    let checked = 0;
    // The row-chunk cases: the vocabulary-block shapes exercise a wasm scheme, and SwiftShader's
    // kernels are slow enough that they would add a minute here.
    for (const c of rowChunkCases()) {
      if (!(c.hidden instanceof Float32Array)) continue;
      compare(c, c.name, await runOn(ex, c, { ...c.options, grad: true }), true);
      if (checked % 8 === 0) compare(c, `${c.name} no grad`, await runOn(ex, c, c.options), false);
      checked++;
    }
    assert.ok(checked >= 90, `${checked} cases`);
  });

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

if (typeof ex !== "string" && typeof small !== "string") {
  const F16_VIEW = { dtype: "float16" } as const;

  /**
   * The case's float32 operands each in its own GPU buffer at byte `offset` (the bytes around it
   * filled), submitted at once on `on` (options.bias and `upstream` on the GPU too), and the
   * submission's buffers read back.
   */
  async function submitOn(on: WebGpuExecutor, c: LinearCase, options: LinearCrossEntropyOptions, offset: number, upstream?: Float32Array) {
    const dev = on.device;
    const view = (x: ArrayLike<number>) => {
      const data = Float32Array.from(x);
      return { buffer: upload(dev, data, offset, 12), offset, length: data.length };
    };
    const { bias, ...rest } = options;
    const gpuOptions = { ...rest, ...(bias !== undefined ? { bias: view(bias) } : {}), ...(upstream !== undefined ? { upstream: view(upstream) } : {}) };
    const sub = on.linearCrossEntropyGpuSync(resolveGpuLinear("test", view(c.hidden as Float32Array), view(c.weight as Float32Array), c.target, gpuOptions));
    const read = async (b: GPUBuffer | null, len: number) => (b === null ? null : new Float32Array(await readBack(dev, b, 0, len * 4)));
    const rows = (await read(sub.rows as GPUBuffer, 2 * c.n))!;
    return {
      loss: rows.filter((_, i) => i % 2 === 0),
      lse: rows.filter((_, i) => i % 2 === 1),
      denominator: sub.denominator,
      gradHidden: await read(sub.gradHidden as GPUBuffer | null, c.n * c.d),
      gradWeight: await read(sub.gradWeight as GPUBuffer | null, c.v * c.d),
      gradBias: await read(sub.gradBias as GPUBuffer | null, c.v),
    };
  }

  test("a submission on GPU operands gives the typed-array path's bits (aligned and unaligned offsets, weight blocks bound at offsets)", async () => {
    for (const on of [ex, small]) {
      for (const c of [shapes[0]!, shapes[1]!]) {
        const opts = { ...c.options, reduction: "none" as const, grad: true };
        const want = await runOn(on, c, opts);
        for (const offset of [0, 256, 20]) {
          const name: string = `${c.name} (${on === small ? "4 KiB bindings" : "whole"}, offset ${offset})`;
          const got = await submitOn(on, c, opts, offset);
          assert.deepEqual(got.lse, want.lse, `${name}: lse`);
          assert.deepEqual(got.loss, want.loss, `${name}: per-row loss`);
          assert.deepEqual(got.gradHidden, want.gradHidden, `${name}: gradHidden`);
          assert.deepEqual(got.gradWeight, want.gradWeight, `${name}: gradWeight`);
          assert.deepEqual(got.gradBias, want.gradBias, `${name}: gradBias`);
        }
      }
      const c = shapes[0]!;
      const mean = await submitOn(on, c, { ...c.options, grad: false }, 0);
      assert.equal(mean.gradHidden, null, "no gradient asked");
      const sum = mean.loss.reduce((a, b) => a + b, 0);
      assertClose([sum / mean.denominator], [(await runOn(on, c, c.options)).loss as number], { atol: 1e-6, rtol: 1e-5 }, "the mean from the rows and the denominator");
    }
  });

  test("upstream factors: each row's gradient scaled (0 and 1 select rows, 2 doubles every gradient bit for bit)", async () => {
    const c = shapes[0]!;
    const opts = { ...c.options, reduction: "none" as const, grad: true };
    const keep = Float32Array.from({ length: c.n }, (_, i) => (i % 3 === 1 ? 0 : 1));
    const target = (c.target as number[]).map((y, i) => (keep[i] === 0 ? -100 : y));
    const selected = await submitOn(small, c, opts, 20, keep);
    const want = await runOn(small, { ...c, target }, opts);
    assert.deepEqual(selected.gradHidden, want.gradHidden, "0/1 factors: gradHidden of the selected rows");
    assert.deepEqual(selected.gradWeight, want.gradWeight, "0/1 factors: gradWeight of the selected rows");
    assert.deepEqual(selected.gradBias, want.gradBias, "0/1 factors: gradBias of the selected rows");
    const doubled = await submitOn(ex, c, opts, 0, new Float32Array(c.n).fill(2));
    const once = await runOn(ex, c, opts);
    assert.deepEqual(doubled.gradWeight, Float32Array.from(once.gradWeight!, (x) => 2 * x), "factor 2: gradWeight doubled");
    assert.deepEqual(doubled.gradHidden, Float32Array.from(once.gradHidden!, (x) => 2 * x), "factor 2: gradHidden doubled");
    assert.deepEqual(doubled.loss, once.loss, "the losses are not scaled");
  });

  test("engine.submitLinearCrossEntropy refuses, with one line each, what it cannot run", async () => {
    const engine = await createEngine({ backend: "webgpu", device: ex.device });
    after(() => engine.dispose());
    const dev = ex.device;
    const [n, d, v] = [3, 4, 5];
    const h = upload(dev, new Float32Array(n * d));
    const w = upload(dev, new Float32Array(v * d));
    const y = [0, 1, 2];
    const refused = (f: () => unknown, re: RegExp) => assert.throws(f, (e: Error) => re.test(e.message) && !e.message.includes("\n"), String(re));
    const noStorage = upload(dev, new Float32Array(n * d), 0, 0, 0x4 | 0x8);
    refused(() => engine.submitLinearCrossEntropy(noStorage, w, y), /^engine\.submitLinearCrossEntropy: hidden's buffer has usage 0xc without GPUBufferUsage\.STORAGE/);
    refused(() => engine.submitLinearCrossEntropy({ buffer: h, offset: 8, length: n * d }, w, y), /hidden holds 12 float32 values from byte 8, 56 bytes, past the buffer's size 48/);
    refused(() => engine.submitLinearCrossEntropy(h, { buffer: w, ...F16_VIEW }, y), /weight\.dtype is "float16"; expected "float32"/);
    refused(() => engine.submitLinearCrossEntropy(h, [1, 2] as unknown as Float32Array, y), /weight is .*; expected a GPUBuffer, a view/);
    refused(() => engine.submitLinearCrossEntropy(h, w, [0, 1, 2, 3, 4]), /hidden has length 12, which is not a multiple of N = 5/);
    refused(() => engine.submitLinearCrossEntropy(h, w, y, { argmax: true, entropy: true } as object), /options\.argmax, options\.entropy are not computed by the GPU linear head/);
    refused(() => engine.submitLinearCrossEntropy(h, w, y, { bias: upload(dev, new Float32Array(4)) }), /options\.bias has 4 values; expected V = 5/);
    const up = upload(dev, new Float32Array(n));
    refused(() => engine.submitLinearCrossEntropy(h, w, y, { upstream: up, grad: true }), /options\.upstream is given with reduction "mean"; expected reduction "none" and grad: true/);
    refused(() => engine.submitLinearCrossEntropy(h, w, y, { upstream: { buffer: up, length: 2 }, reduction: "none", grad: true }), /options\.upstream has 2 values; expected N = 3/);
    refused(() => engine.submitLinearCrossEntropy(h, w, [0, 1, 7]), /target/);
    const cpu = await createEngine({ backend: "js" });
    refused(() => cpu.submitLinearCrossEntropy(h, w, y), /this engine runs on js; expected an engine on the webgpu backend/);
    cpu.dispose();
    // host Float32Arrays are uploaded: the same bits as GPU buffers of the same values
    const hv = Float32Array.from({ length: n * d }, (_, i) => Math.sin(i));
    const wv = Float32Array.from({ length: v * d }, (_, i) => Math.cos(i));
    const a = engine.submitLinearCrossEntropy(hv, wv, y, { grad: true });
    const ga = new Float32Array(await readBack(dev, a.gradWeight as GPUBuffer, 0, v * d * 4));
    assert.equal(a.gradWeight!.size, v * d * 4, "gradWeight's buffer has exactly its size");
    const b = engine.submitLinearCrossEntropy(upload(dev, hv), upload(dev, wv), y, { grad: true });
    assert.deepEqual(new Float32Array(await readBack(dev, b.gradWeight as GPUBuffer, 0, v * d * 4)), ga);
  });
}
