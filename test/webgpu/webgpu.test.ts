/**
 * The WebGPU backend, in one test process so that the kernel's variants compile once (each takes
 * seconds on SwiftShader; every executor on one device shares its pipelines): the conformance
 * suite through the public `createEngine({ backend: "webgpu", device })` (subgroup reductions
 * where the device has them, as SwiftShader does), and again on an executor forced to the
 * workgroup-memory tree and to the split-vocabulary mode; then the kernel beyond it: row blocks
 * under a small artificial binding limit, few rows of a large vocabulary, bitwise repeatability,
 * NaN and ±Infinity rows, the accuracy of the shader's own exp and log on a dense sweep, and the
 * block planner.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createEngine, crossEntropy, type CrossEntropyOptions, type CrossEntropyOutput } from "../../src/index.js";
import { crossEntropySuite } from "../conformance/suite.js";
import { planRowBlocks } from "../../src/backends/webgpu/index.js";
import { vocabSlices } from "../../src/backends/webgpu/crossEntropy.js";
import { assertClose } from "../helpers/close.js";
import { genProbs, genTargets, genValues } from "../helpers/gen.js";
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
// The other variants, on the same device: the workgroup-memory tree with every call split into 2
// vocabulary slices (the second empty for V <= 4), on the suite's cases of at most 8 rows (the
// split mode's use) and every fifth case of the option grids (a period prime to the grids'
// dimensions, 2 and 3, so each value of each option is run): SwiftShader runs each workgroup on
// the CPU, and the whole suite split would double this file's time.
const split = typeof ex === "string" ? ex : await openExecutor({ device: ex.device, subgroups: false, vocabSlices: 2 });
if (typeof split !== "string") {
  const notRun = (): Promise<never> => Promise.reject(new Error("the split executor runs crossEntropy only"));
  crossEntropySuite(`webgpu split vocabulary, workgroup-memory tree (${split.adapterName})`, {
    crossEntropy: (logits, target, options) => {
      if (!(logits instanceof Float32Array)) throw new TypeError("float32 only");
      return runOn(split, logits, target, options);
    },
    linearCrossEntropy: notRun,
    distillationLoss: notRun,
    engine: () => null,
  }, ["float32"], (c, i) => c.logits.length <= 8 * (c.options.classes ?? 1) && (!c.name.startsWith("grid/") || i % 5 === 0));
}
// Bindings that hold at most 3 rows of V=1031 or 4 rows of V=1000: every call is several blocks;
// fused with the tree, and (with every option) split into 2 slices with subgroups.
const small = typeof ex === "string" ? ex : await openExecutor({ device: ex.device, maxBindingBytes: 16500, subgroups: false });
const smallSplit = typeof ex === "string" ? ex : await openExecutor({ device: ex.device, maxBindingBytes: 16500, vocabSlices: 2 });

function compare(label: string, got: { loss: number | ArrayLike<number>; lse: ArrayLike<number>; grad?: ArrayLike<number> }, want: typeof got): void {
  if (typeof want.loss === "number") assertClose(got.loss as number, want.loss, F32.value, `${label} loss`);
  else assertClose(got.loss as ArrayLike<number>, want.loss, F32.value, `${label} per-token loss`);
  assertClose(got.lse, want.lse, F32.value, `${label} lse`);
  if (want.grad !== undefined) assertClose(got.grad!, want.grad, F32.grad, `${label} grad`);
}

if (typeof ex === "string" || typeof small === "string" || typeof smallSplit === "string" || typeof split === "string") {
  test("webgpu kernel", { skip: typeof ex === "string" ? ex : String(small) }, () => {});
} else {
  test("the variants: subgroups where the device has them, the tree where turned off", () => {
    assert.equal(ex.subgroups, ex.device.features.has("subgroups"));
    assert.equal(split.subgroups, false);
    assert.equal(small.subgroups, false);
  });

  test("vocabSlices: split only few rows of a large vocabulary, slices of at least 4096 classes", () => {
    assert.equal(vocabSlices(1, 128256), 31);
    assert.equal(vocabSlices(8, 128256), 31);
    assert.equal(vocabSlices(8, 262144), 32);
    assert.equal(vocabSlices(32, 128256), 8);
    assert.equal(vocabSlices(64, 128256), 1);
    assert.equal(vocabSlices(4, 8191), 1);
    assert.equal(vocabSlices(3, 33999), 8);
  });

  test("row blocks under a small binding limit equal the reference (vec4 and scalar rows, probs, in place)", async () => {
    for (const [n, v] of [[23, 1000], [19, 1031]] as const) {
      const x = new Float32Array(genValues(n * v, n + v, 8));
      const target = genTargets(n, 3, v);
      target[5] = -100;
      const probs = genProbs(n, v, 4);
      const weight = Float64Array.from(genValues(v, 6, 1), (w) => Math.abs(w) + 0.1);
      const all: CrossEntropyOptions = { classes: v, labelSmoothing: 0.1, weight, zLoss: 1e-3, softcap: 5, grad: true };
      for (const [name, t, o] of [
        ["index", target, { classes: v, grad: true }],
        ["index, all options", target, all],
        ["probs, all options", { probs }, { ...all, reduction: "sum" }],
        ["index, none, no grad", target, { classes: v, reduction: "none" }],
      ] as const) {
        const want = crossEntropy(Float64Array.from(x), t, { ...o, backend: "reference" });
        const splitToo = name.endsWith("all options") && v === 1031;
        for (const [kind, e] of splitToo ? ([["fused", small], ["split", smallSplit]] as const) : ([["fused", small]] as const)) {
          compare(`${n}x${v} ${name} ${kind}`, await runOn(e, x, t, o), want);
          if (o.grad === true) {
            const copy = Float32Array.from(x);
            const got = await runOn(e, copy, t, { ...o, inplace: true });
            assert.equal(got.grad, copy);
            compare(`${n}x${v} ${name} ${kind}, in place`, got, want);
          }
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

  const bits = (a: ArrayLike<number>): Uint32Array => new Uint32Array(Float32Array.from(a).buffer);
  const assertSameBits = (a: CrossEntropyOutput, b: CrossEntropyOutput, label: string): void => {
    assert.deepEqual(bits(a.loss as Float32Array), bits(b.loss as Float32Array), `${label}: per-token loss bits`);
    assert.deepEqual(bits(a.lse), bits(b.lse), `${label}: lse bits`);
    assert.deepEqual(bits(a.grad!), bits(b.grad!), `${label}: gradient bits`);
  };

  test("two runs give identical bits (fixed reduction order): subgroups, tree, split", async () => {
    const n = 9;
    const v = 4099;
    const x = new Float32Array(genValues(n * v, 77, 10));
    const t = genTargets(n, 5, v);
    const o: CrossEntropyOptions = { classes: v, reduction: "none", labelSmoothing: 0.05, zLoss: 1e-4, grad: true };
    for (const [label, e] of [["default", ex], ["tree, split", split]] as const) {
      assertSameBits(await runOn(e, x, t, o), await runOn(e, x, t, o), label);
    }
  });

  test("few rows of a large vocabulary (split into vocabSlices(2, 131072) = 32 slices) equal the reference, bit-repeatably", async () => {
    const n = 2;
    const v = 131072;
    const x = new Float32Array(genValues(n * v, 21, 8));
    const t = Int32Array.from([70000, 5]);
    const probs = genProbs(n, v, 4);
    const weight = Float64Array.from(genValues(v, 6, 1), (w) => Math.abs(w) + 0.1);
    const all: CrossEntropyOptions = { classes: v, reduction: "none", labelSmoothing: 0.1, weight, zLoss: 1e-3, softcap: 5, grad: true };
    for (const [name, tg, o] of [
      ["index, all options", t, all],
      ["probs, all options", { probs }, { ...all, reduction: "sum" }],
      ["index, mean, no grad", t, { classes: v }],
    ] as const) {
      const want = crossEntropy(Float64Array.from(x), tg, { ...o, backend: "reference" });
      const got = await runOn(ex, x, tg, o);
      compare(`${n}x${v} ${name}`, got, want);
      if (name === "index, all options") assertSameBits(got, await runOn(ex, x, tg, o), `${n}x${v} ${name}, second run`);
    }
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
        compare(`V=${v} ${JSON.stringify(o)}, split`, await runOn(split, x, t, opts), want);
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
