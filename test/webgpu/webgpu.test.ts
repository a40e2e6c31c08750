/**
 * The WebGPU backend, in one test process so that the kernel's variants compile once (each takes
 * seconds on SwiftShader; every executor on one device shares its pipelines): the conformance
 * suite through the public `createEngine({ backend: "webgpu", device })`, and the kernel beyond
 * it: row blocks under a small artificial binding limit, bitwise repeatability, NaN and ±Infinity
 * rows, the accuracy of the shader's own exp and log on a dense sweep, and the block planner.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createEngine, crossEntropy, type CrossEntropyOptions } from "../../src/index.js";
import { crossEntropySuite } from "../conformance/suite.js";
import { planRowBlocks } from "../../src/backends/webgpu/index.js";
import { assertClose } from "../helpers/close.js";
import { genTargets, genValues } from "../helpers/gen.js";
import { openExecutor, runOn } from "./setup.js";

const F32 = { value: { atol: 2e-6, rtol: 2e-6 }, grad: { atol: 1e-6, rtol: 1e-4 } };

test("planRowBlocks: whole rows under the binding limit, aligned offsets, dispatch limit", () => {
  const limits = { maxBindingBytes: 1000, offsetAlignment: 256, maxWorkgroups: 65535 };
  assert.deepEqual(planRowBlocks(10, 40, limits, false), { rowsPerBlock: 10, blocks: 1 });
  assert.deepEqual(planRowBlocks(100, 40, limits, false), { rowsPerBlock: 25, blocks: 4 });
  // 40-byte rows: offsets are multiples of 256 every 32 rows; 25 rows fit, so no aligned block does
  assert.throws(() => planRowBlocks(100, 40, limits, true), /does not fit one storage binding/);
  assert.deepEqual(planRowBlocks(100, 64, { ...limits, maxBindingBytes: 1100 }, true), { rowsPerBlock: 16, blocks: 7 });
  assert.deepEqual(planRowBlocks(100, 4, { ...limits, maxWorkgroups: 30 }, false), { rowsPerBlock: 30, blocks: 4 });
  assert.throws(() => planRowBlocks(3, 2000, limits, false), /a row of 2000 bytes does not fit one storage binding of at most 1000 bytes/);
  for (let n = 1; n < 300; n += 7) {
    for (const rowBytes of [4, 12, 28, 64]) {
      const p = planRowBlocks(n, rowBytes, { ...limits, maxBindingBytes: 4096 }, true);
      assert.ok(p.rowsPerBlock * rowBytes <= 4096 && p.rowsPerBlock * p.blocks >= n && (p.blocks - 1) * p.rowsPerBlock < n);
      if (p.blocks > 1) assert.equal((p.rowsPerBlock * rowBytes) % 256, 0);
    }
  }
});

const ex = await openExecutor();
if (typeof ex !== "string") {
  // The public path, on the same device (a caller's device is passed through, not destroyed).
  const engine = await createEngine({ backend: "webgpu", device: ex.device });
  after(() => engine.dispose());
  crossEntropySuite(`webgpu engine (${ex.adapterName})`, {
    crossEntropy: (logits, target, options) => engine.crossEntropy(logits, target, options),
    linearCrossEntropy: (hidden, weight, target, options) => engine.linearCrossEntropy(hidden, weight, target, options),
    distillationLoss: (student, teacher, options) => engine.distillationLoss(student, teacher, options),
    engine: () => Promise.resolve(engine),
  }, ["float32", "float64"]); // float64 is not the GPU's: the engine runs it on the CPU
}
// A second executor whose bindings hold at most 3 rows of V=1031 or 4 rows of V=1000: every call is several blocks.
const small = typeof ex === "string" ? ex : await openExecutor({ device: ex.device, maxBindingBytes: 16500 });

function compare(label: string, got: { loss: number | ArrayLike<number>; lse: ArrayLike<number>; grad?: ArrayLike<number> }, want: typeof got): void {
  if (typeof want.loss === "number") assertClose(got.loss as number, want.loss, F32.value, `${label} loss`);
  else assertClose(got.loss as ArrayLike<number>, want.loss, F32.value, `${label} per-token loss`);
  assertClose(got.lse, want.lse, F32.value, `${label} lse`);
  if (want.grad !== undefined) assertClose(got.grad!, want.grad, F32.grad, `${label} grad`);
}

if (typeof ex === "string" || typeof small === "string") {
  test("webgpu kernel", { skip: typeof ex === "string" ? ex : String(small) }, () => {});
} else {
  test("row blocks under a small binding limit equal the reference (vec4 and scalar rows, probs, in place)", async () => {
    for (const [n, v] of [[23, 1000], [19, 1031]] as const) {
      const x = new Float32Array(genValues(n * v, n + v, 8));
      const target = genTargets(n, 3, v);
      target[5] = -100;
      const probs = new Float32Array(genValues(n * v, 4, 1).map(Math.abs));
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < v; j++) s += probs[i * v + j]!;
        for (let j = 0; j < v; j++) probs[i * v + j]! /= s;
      }
      const weight = Float64Array.from(genValues(v, 6, 1), (w) => Math.abs(w) + 0.1);
      const all: CrossEntropyOptions = { classes: v, labelSmoothing: 0.1, weight, zLoss: 1e-3, softcap: 5, grad: true };
      for (const [name, t, o] of [
        ["index", target, { classes: v, grad: true }],
        ["index, all options", target, all],
        ["probs, all options", { probs }, { ...all, reduction: "sum" }],
        ["index, none, no grad", target, { classes: v, reduction: "none" }],
      ] as const) {
        const want = crossEntropy(Float64Array.from(x), t, { ...o, backend: "reference" });
        compare(`${n}x${v} ${name}`, await runOn(small, x, t, o), want);
        if (o.grad === true) {
          const copy = Float32Array.from(x);
          const got = await runOn(small, copy, t, { ...o, inplace: true });
          assert.equal(got.grad, copy);
          compare(`${n}x${v} ${name}, in place`, got, want);
        }
      }
    }
  });

  test("executor memory: alloc, owns, free; supports names what it does not run", () => {
    const a = ex.alloc(10);
    assert.equal(a.length, 10);
    assert.ok(ex.owns(a) && ex.owns(a.subarray(3)));
    assert.ok(!ex.owns(new Float32Array(10)));
    assert.ok(ex.free(a));
    assert.ok(!ex.free(a) && !ex.owns(a));
    assert.throws(() => ex.alloc(-1), /alloc\(-1\)/);
    assert.ok(ex.freed(a) && !ex.freed(new Float32Array(2)));
    assert.equal(ex.supports({ kernel: "crossEntropy", dtype: "float32", n: 2048, v: 128256, d: 0, grad: true }), true);
    assert.match(String(ex.supports({ kernel: "crossEntropy", dtype: "float64", n: 1, v: 10, d: 0, grad: true })), /float32/);
    assert.match(String(small.supports({ kernel: "crossEntropy", dtype: "float32", n: 1, v: 5000, d: 0, grad: true })), /exceeds the device's largest storage binding/);
  });

  test("two runs give identical bits (fixed reduction order)", async () => {
    const n = 9;
    const v = 4099;
    const x = new Float32Array(genValues(n * v, 77, 10));
    const t = genTargets(n, 5, v);
    const o: CrossEntropyOptions = { classes: v, reduction: "none", labelSmoothing: 0.05, zLoss: 1e-4, grad: true };
    const a = await runOn(ex, x, t, o);
    const b = await runOn(ex, x, t, o);
    assert.deepEqual(new Uint32Array(Float32Array.from(a.loss as Float32Array).buffer), new Uint32Array(Float32Array.from(b.loss as Float32Array).buffer));
    assert.deepEqual(new Uint32Array(Float32Array.from(a.lse).buffer), new Uint32Array(Float32Array.from(b.lse).buffer));
    assert.deepEqual(new Uint32Array(Float32Array.from(a.grad!).buffer), new Uint32Array(Float32Array.from(b.grad!).buffer));
  });

  test("NaN and ±Infinity rows follow the reference (PyTorch's semantics)", async () => {
    for (const v of [8, 7]) {
      const n = 6;
      const x = new Float32Array(genValues(n * v, 11, 3));
      x[0 * v + 2] = NaN; // row 0: NaN logit
      x[1 * v + 3] = Infinity; // row 1: +Infinity logit (NaN row without a cap, finite with one)
      x.fill(-Infinity, 2 * v, 3 * v); // row 2: every logit -Infinity
      x[3 * v + 1] = NaN; // row 3: NaN, but ignored
      x[4 * v + 0] = -Infinity; // row 4: a masked logit, and the target's
      const t = Int32Array.from([1, 0, 2, -100, 0, 3]);
      for (const o of [{}, { softcap: 2 }, { labelSmoothing: 0.2, zLoss: 0.01 }, { reduction: "none" as const }]) {
        const opts: CrossEntropyOptions = { classes: v, grad: true, ...o };
        const want = crossEntropy(Float64Array.from(x), t, { ...opts, backend: "reference" });
        compare(`V=${v} ${JSON.stringify(o)}`, await runOn(ex, x, t, opts), want);
      }
    }
  });

  test("the shader's exp and log on a dense sweep: lse and softmax of (0, a) rows", async () => {
    // Row (0, a): lse = log(1 + e^a), p_1 = e^a / (1 + e^a). Sweeps a over [-87, 87].
    const n = 601; // steps of 0.29 in a; one workgroup per row: SwiftShader runs each as 256 CPU invocations
    const x = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) x[2 * i + 1] = Math.fround(-87 + (174 * i) / (n - 1));
    const t = new Int32Array(n);
    const got = await runOn(ex, x, t, { classes: 2, reduction: "sum", grad: true });
    const want = crossEntropy(Float64Array.from(x), t, { classes: 2, reduction: "sum", grad: true, backend: "reference" });
    assertClose(got.lse, want.lse, { atol: 6e-8, rtol: 4e-7 }, "lse of (0, a)"); // log(1 + tiny) rounds to 0 in float32
    const odd = (g: ArrayLike<number>): Float64Array => Float64Array.from({ length: n }, (_, i) => g[2 * i + 1]!);
    const even = (g: ArrayLike<number>): Float64Array => Float64Array.from({ length: n }, (_, i) => g[2 * i]!);
    // p_1 = e^(a - lse) down to 1e-38, relative; p_0 - 1 within 2 ulps of float32 at 1
    // p_1 relative, allowing for the float32 rounding of its argument a - lse (|a|·2^-24) and a few ulps
    const g1 = odd(got.grad!);
    const w1 = odd(want.grad!);
    for (let i = 0; i < n; i++) {
      const a = x[2 * i + 1]!;
      assertClose(g1[i]!, w1[i]!, { atol: 1e-37, rtol: 3e-7 + Math.abs(a) * 2 ** -24 }, `softmax of (0, ${a}), p_1 at row ${i}`);
    }
    assertClose(even(got.grad!), even(want.grad!), { atol: 1.2e-7, rtol: 4e-7 }, "softmax of (0, a), p_0 - 1");
  });
}
