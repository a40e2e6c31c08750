/** linearCrossEntropy's argument checking: each bad input gets a clear error naming it. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { linearCrossEntropy } from "../../src/index.js";

const N = 3, D = 4, V = 5;
const hidden = new Float32Array(N * D).map((_, i) => Math.sin(i));
const weight = new Float32Array(V * D).map((_, i) => Math.cos(i));
const target = [0, 4, 2];

function throws(f: () => unknown, type: typeof TypeError | typeof RangeError, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
    assert.match((e as Error).message, pattern);
    assert.match((e as Error).message, /^linearCrossEntropy: /);
    return true;
  });
}

describe("linearCrossEntropy validation", () => {
  it("accepts a good call and derives (N, D, V)", () => {
    const out = linearCrossEntropy(hidden, weight, target, { grad: true, bias: new Float32Array(V) });
    assert.equal(out.lse.length, N);
    assert.equal(out.gradHidden!.length, N * D);
    assert.equal(out.gradWeight!.length, V * D);
    assert.equal(out.gradBias!.length, V);
  });
  it("hidden whose length is not a multiple of N", () => {
    throws(() => linearCrossEntropy(hidden.subarray(1), weight, target), RangeError, /hidden has length 11, which is not a multiple of N = 3/);
  });
  it("weight whose length is not a multiple of D (mismatched D)", () => {
    throws(() => linearCrossEntropy(hidden, weight.subarray(2), target), RangeError, /weight has length 18, which is not a multiple of D = 4/);
  });
  it("rows of hidden and weight of different widths", () => {
    const h = [[1, 2, 3], [4, 5, 6]];
    const w = [[1, 2], [3, 4]];
    throws(() => linearCrossEntropy(h, w, [0, 1]), RangeError, /weight rows have length 2; expected D = 3/);
  });
  it("hidden rows that disagree with the target's length", () => {
    throws(() => linearCrossEntropy([[1, 2], [3, 4]], [[1, 2]], [0, 0, 0]), RangeError, /hidden has 2 rows; expected N = 3/);
  });
  it("empty inputs", () => {
    throws(() => linearCrossEntropy(hidden, weight, []), RangeError, /target is empty/);
    throws(() => linearCrossEntropy(new Float32Array(0), weight, [0]), RangeError, /hidden is empty/);
    throws(() => linearCrossEntropy(hidden, new Float32Array(0), target), RangeError, /weight is empty/);
  });
  it("a bias of the wrong size or type", () => {
    throws(() => linearCrossEntropy(hidden, weight, target, { bias: new Float32Array(V + 1) }), RangeError, /options.bias has length 6; expected V = 5/);
    throws(() => linearCrossEntropy(hidden, weight, target, { bias: "x" as never }), TypeError, /options.bias is string/);
    throws(() => linearCrossEntropy(hidden, weight, target, { bias: [0, 0, "a", 0, 0] as never }), TypeError, /options.bias\[2\] is string; expected a number/);
  });
  it("class weights of the wrong size or sign", () => {
    throws(() => linearCrossEntropy(hidden, weight, target, { classWeight: [1, 1] }), RangeError, /options.classWeight has length 2; expected V = 5/);
    throws(() => linearCrossEntropy(hidden, weight, target, { classWeight: [1, 1, -1, 1, 1] }), RangeError, /options.classWeight\[2\] is -1; expected a finite number >= 0/);
  });
  it("crossEntropy's `weight` option is pointed to classWeight", () => {
    throws(() => linearCrossEntropy(hidden, weight, target, { weight: [1, 1, 1, 1, 1] } as never), TypeError, /options.classWeight/);
    throws(() => linearCrossEntropy(hidden, weight, target, { inplace: true } as never), TypeError, /unknown option "inplace"/);
  });
  it("targets out of range, or of the wrong type", () => {
    throws(() => linearCrossEntropy(hidden, weight, [0, 5, 1]), RangeError, /target\[1\] = 5 is out of range; expected an integer in \[0, 5\)/);
    throws(() => linearCrossEntropy(hidden, weight, [0, 1.5, 1]), TypeError, /target\[1\] is 1.5/);
    throws(() => linearCrossEntropy(hidden, weight, "abc" as never), TypeError, /target is string/);
  });
  it("probability targets: flat ones need classes, and their length must be N×V", () => {
    const probs = new Float64Array(N * V).fill(1 / V);
    throws(() => linearCrossEntropy(hidden, weight, { probs }), TypeError, /options.classes is required/);
    const out = linearCrossEntropy(hidden, weight, { probs }, { classes: V });
    assert.equal(typeof out.loss, "number");
    throws(() => linearCrossEntropy(hidden, weight, { probs: probs.subarray(1) }, { classes: V }), RangeError, /target.probs has length 14; expected N×V = 3×5 = 15/);
    throws(() => linearCrossEntropy(hidden, weight, target, { classes: 4 }), RangeError, /weight has 5 rows of D = 4; expected options.classes = 4/);
  });
  it("chunkSize, memoryBudget and gradFilter", () => {
    throws(() => linearCrossEntropy(hidden, weight, target, { chunkSize: 0 }), RangeError, /options.chunkSize is 0; expected an integer >= 1/);
    throws(() => linearCrossEntropy(hidden, weight, target, { chunkSize: 2.5 }), RangeError, /options.chunkSize is 2.5/);
    throws(() => linearCrossEntropy(hidden, weight, target, { memoryBudget: -1 }), RangeError, /options.memoryBudget is -1/);
    throws(() => linearCrossEntropy(hidden, weight, target, { chunkSize: 1, memoryBudget: 10 }), TypeError, /both given/);
    throws(() => linearCrossEntropy(hidden, weight, target, { gradFilter: -1 }), RangeError, /options.gradFilter is -1/);
    throws(() => linearCrossEntropy(hidden, weight, target, { gradFilter: "yes" as never }), TypeError, /options.gradFilter is string/);
  });
  it("shared options keep crossEntropy's checks", () => {
    throws(() => linearCrossEntropy(hidden, weight, target, { reduction: "avg" as never }), RangeError, /options.reduction is "avg"/);
    throws(() => linearCrossEntropy(hidden, weight, target, { labelSmoothing: 2 }), RangeError, /options.labelSmoothing is 2/);
    // The registry's own message, as for crossEntropy.
    assert.throws(() => linearCrossEntropy(hidden, weight, target, { backend: "nope" }), /unknown backend "nope"/);
  });
  it("the LM options keep crossEntropy's checks, naming linearCrossEntropy", () => {
    const probs = new Float64Array(N * V).fill(1 / V);
    throws(() => linearCrossEntropy(hidden, weight, { probs }, { classes: V, accuracy: true }), TypeError, /options.accuracy needs class-index targets; got probability targets/);
    throws(() => linearCrossEntropy(hidden, weight, target, { denominator: 10, reduction: "sum" }), TypeError, /options.denominator is given with reduction "sum"; expected reduction "mean"/);
    throws(() => linearCrossEntropy(hidden, weight, target, { denominator: 10, reduction: "none" }), TypeError, /options.denominator is given with reduction "none"/);
    throws(() => linearCrossEntropy(hidden, weight, target, { denominator: 0 }), RangeError, /options.denominator is 0; expected a finite number > 0/);
    throws(() => linearCrossEntropy(hidden, weight, target, { temperature: 0 }), RangeError, /options.temperature is 0; expected a finite number > 0/);
    throws(() => linearCrossEntropy(hidden, weight, target, { temperature: Infinity }), RangeError, /options.temperature is Infinity/);
    throws(() => linearCrossEntropy(hidden, weight, target, { temperature: "2" as never }), TypeError, /options.temperature is string; expected a number/);
    for (const name of ["accuracy", "argmax", "entropy"] as const) {
      throws(() => linearCrossEntropy(hidden, weight, target, { [name]: 1 } as never), TypeError, new RegExp(`options.${name} is 1; expected true or false`));
    }
  });
  it("never modifies the caller's arrays", () => {
    const h = Float32Array.from(hidden);
    const w = Float32Array.from(weight);
    const b = new Float32Array(V).fill(0.5);
    const t = Int32Array.from(target);
    linearCrossEntropy(h, w, t, { grad: true, bias: b, softcap: 2, labelSmoothing: 0.1 });
    assert.deepEqual(h, hidden);
    assert.deepEqual(w, weight);
    assert.deepEqual(b, new Float32Array(V).fill(0.5));
    assert.deepEqual(t, Int32Array.from(target));
  });
  it("mixed float types follow hidden: a float64 weight is read as float32 for float32 hidden", () => {
    const out = linearCrossEntropy(hidden, Float64Array.from(weight), target, { grad: true });
    assert.ok(out.gradWeight instanceof Float32Array);
    const ref = linearCrossEntropy(hidden, weight, target, { grad: true });
    assert.deepEqual(out.gradWeight, ref.gradWeight);
    const f64 = linearCrossEntropy(Array.from(hidden), weight, target, { grad: true });
    assert.ok(f64.gradHidden instanceof Float64Array);
  });
});
