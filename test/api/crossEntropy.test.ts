/** Behaviour of the public API: the worked example, input forms, dtypes, reductions, edge cases. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crossEntropy, listBackends, logSoftmax, perplexity, softmax } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { genTargets, genValues } from "../helpers/gen.js";

const tight = { atol: 1e-12, rtol: 1e-12 };

test("the worked example: p = 0.7 gives 0.357 nats, p = 0.9 gives 0.105", () => {
  const a = crossEntropy([Math.log(0.7), Math.log(0.2), Math.log(0.1)], [0], { classes: 3 });
  assertClose(a.loss as number, -Math.log(0.7), tight, "p=0.7");
  assert.equal((a.loss as number).toFixed(6), "0.356675");
  const b = crossEntropy([[Math.log(0.9), Math.log(0.1)]], [0]);
  assert.equal((b.loss as number).toFixed(3), "0.105");
});

test("the gradient is softmax minus one-hot", () => {
  const x = [1, 2, 3];
  const { grad } = crossEntropy(x, [1], { classes: 3, grad: true });
  const p = softmax(x, { classes: 3 });
  assertClose(grad!, [p[0]!, p[1]! - 1, p[2]!], tight, "grad");
});

test("input forms: flat number[], rows, Float32Array, Float64Array; Int32Array, Uint32Array and number[] targets", () => {
  const rows = [[0.5, -1, 2], [3, 0, -0.25]];
  const flat = rows.flat();
  const want = crossEntropy(new Float64Array(flat), [2, 0], { classes: 3, grad: true });
  for (const [x, t] of [
    [flat, new Int32Array([2, 0])],
    [rows, new Uint32Array([2, 0])],
    [new Float64Array(flat), [2, 0]],
  ] as const) {
    const got = crossEntropy(x, t, { classes: 3, grad: true });
    assert.ok(got.lse instanceof Float64Array);
    assertClose(got.loss, want.loss, tight, "loss");
    assertClose(got.grad, want.grad, tight, "grad");
  }
  const f32 = crossEntropy(new Float32Array(flat), [2, 0], { classes: 3, grad: true, reduction: "none" });
  assert.ok(f32.loss instanceof Float32Array && f32.lse instanceof Float32Array && f32.grad instanceof Float32Array);
  assertClose(f32.loss, crossEntropy(flat, [2, 0], { classes: 3, reduction: "none" }).loss as Float64Array, { atol: 1e-6, rtol: 1e-6 }, "f32 loss");
});

test("probability targets as rows or flat arrays; one-hot probabilities equal index targets", () => {
  const x = genValues(4 * 5, 3, 3);
  const t = [1, 4, 0, 2];
  const onehot = t.map((y) => Array.from({ length: 5 }, (_, j) => (j === y ? 1 : 0)));
  for (const options of [{}, { labelSmoothing: 0.2 }, { zLoss: 0.01, softcap: 2 }]) {
    const a = crossEntropy(x, t, { classes: 5, grad: true, reduction: "sum", ...options });
    const b = crossEntropy(x, { probs: onehot }, { classes: 5, grad: true, reduction: "sum", ...options });
    const c = crossEntropy(x, { probs: new Float32Array(onehot.flat()) }, { classes: 5, grad: true, reduction: "sum", ...options });
    assertClose(b.loss as number, a.loss as number, tight, "rows loss");
    assertClose(c.grad!, a.grad!, tight, "flat grad");
  }
});

test("reductions agree: sum = Σ none, mean = sum / Σ w[y] over tokens not ignored", () => {
  const n = 9;
  const v = 13;
  const x = genValues(n * v, 4, 5);
  const t = Array.from(genTargets(n, 5, v));
  t[3] = -100;
  const weight = Array.from(genValues(v, 6, 1), (w) => Math.abs(w) + 0.5);
  for (const backend of ["js", "reference"]) {
    const o = { classes: v, weight, labelSmoothing: 0.1, zLoss: 0.01, backend, grad: true };
    const none = crossEntropy(x, t, { ...o, reduction: "none" });
    const sum = crossEntropy(x, t, { ...o, reduction: "sum" });
    const mean = crossEntropy(x, t, { ...o, reduction: "mean" });
    const total = (none.loss as Float64Array).reduce((a, b) => a + b, 0);
    const d = t.reduce((a, y) => a + (y === -100 ? 0 : weight[y]!), 0);
    assertClose(sum.loss as number, total, tight, `${backend} sum`);
    assertClose(mean.loss as number, total / d, tight, `${backend} mean`);
    assertClose(none.grad!, sum.grad!, tight, `${backend} none grad is the sum's`);
    assertClose(mean.grad!, sum.grad!.map((g) => g / d), tight, `${backend} mean grad`);
    assert.equal((none.loss as Float64Array)[3], 0, "an ignored token has loss 0");
  }
});

test("all tokens ignored: mean is NaN with a zero gradient, sum is 0", () => {
  for (const backend of ["js", "reference"]) {
    const mean = crossEntropy([1, 2, 3, 4], [-100, -100], { classes: 2, grad: true, backend });
    assert.ok(Number.isNaN(mean.loss as number));
    assert.deepEqual(Array.from(mean.grad!), [0, 0, 0, 0]);
    assert.equal(crossEntropy([1, 2, 3, 4], [-100, -100], { classes: 2, reduction: "sum", backend }).loss, 0);
    assertClose(mean.lse, [2 + Math.log1p(Math.exp(-1)), 4 + Math.log1p(Math.exp(-1))], tight, "lse is still reported");
  }
});

test("any integer may be the ignoreIndex, a valid class included", () => {
  const x = [1, 2, 3, 3, 2, 1];
  const a = crossEntropy(x, [0, 2], { classes: 3, ignoreIndex: 0, reduction: "none" });
  assert.equal((a.loss as Float64Array)[0], 0);
  assert.ok((a.loss as Float64Array)[1]! > 0);
  const big = crossEntropy(x, [2 ** 40, 1], { classes: 3, ignoreIndex: 2 ** 40, reduction: "none" });
  assert.equal((big.loss as Float64Array)[0], 0);
});

test("-Infinity masks: harmless without smoothing, +Infinity loss with it; a -Infinity target gives +Infinity with a finite gradient", () => {
  for (const backend of ["js", "reference"]) {
    const x = [0, -Infinity, 1];
    const plain = crossEntropy(x, [2], { classes: 3, grad: true, backend });
    assert.ok(Number.isFinite(plain.loss as number));
    assert.equal(plain.grad![1], 0);
    assert.equal(crossEntropy(x, [2], { classes: 3, labelSmoothing: 0.1, backend }).loss, Infinity);
    const masked = crossEntropy(x, [1], { classes: 3, grad: true, backend });
    assert.equal(masked.loss, Infinity);
    assert.ok(masked.grad!.every(Number.isFinite));
    assertClose(masked.grad![1]!, -1, tight, "grad at the -inf target");
  }
});

test("softcap turns -Infinity into -s, and V = 1 gives loss 0", () => {
  const s = 5;
  const { lse } = crossEntropy([-Infinity, 0], [1], { classes: 2, softcap: s });
  assertClose(lse[0]!, Math.log(Math.exp(-s) + 1), tight, "lse with the cap");
  const one = crossEntropy([[7], [-3]], [0, 0], { grad: true });
  assert.equal(one.loss, 0);
  assert.deepEqual(Array.from(one.grad!), [0, 0]);
});

test("softmax, logSoftmax and perplexity", () => {
  const x = new Float32Array([1000, 1001, 1002, -1, 0, 1]);
  const p = softmax(x, { classes: 3 });
  const lp = logSoftmax(x, { classes: 3 });
  assert.ok(p instanceof Float32Array && lp instanceof Float32Array);
  const e = [Math.exp(-2), Math.exp(-1), 1];
  const z = e[0]! + e[1]! + e[2]!;
  const want = e.map((v) => v / z);
  assertClose(p, [...want, ...want], { atol: 1e-7, rtol: 1e-6 }, "softmax");
  assertClose(lp, [...want, ...want].map(Math.log), { atol: 1e-5, rtol: 1e-6 }, "logSoftmax");
  const ppl = perplexity(x, [2, 0], { classes: 3 });
  assertClose(ppl, Math.exp(-(Math.log(want[2]!) + Math.log(want[0]!)) / 2), { atol: 0, rtol: 1e-6 }, "perplexity");
  const capped = softmax([-Infinity, 0], { classes: 2, softcap: 1 });
  assertClose(capped, [Math.exp(-1) / (1 + Math.exp(-1)), 1 / (1 + Math.exp(-1))], tight, "capped softmax");
});

test("backends are listed fastest first and include js and reference", () => {
  const names = listBackends();
  assert.ok(names.includes("js") && names.includes("reference"));
  assert.ok(names.indexOf("js") < names.indexOf("reference"));
});
