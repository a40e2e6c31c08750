/**
 * Every bad input gets a TypeError or RangeError whose message names the argument, the
 * offending index or value, and what was expected. Nothing is modified on the way.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createEngine, crossEntropy, logSoftmax, perplexity, softmax } from "../../src/index.js";

const logits = new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]); // (2, 3)
const target = [0, 2];

function throwsLike(fn: () => unknown, kind: typeof TypeError | typeof RangeError, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof kind, `expected ${kind.name}, got ${String(e)}`);
    assert.match((e as Error).message, pattern);
    return true;
  });
}

const cases: [string, () => unknown, typeof TypeError | typeof RangeError, RegExp][] = [
  ["length not N×V", () => crossEntropy(new Float32Array(7), target, { classes: 3 }), RangeError, /logits has length 7, which is not a multiple of classes = 3/],
  ["N = 0", () => crossEntropy(new Float32Array(0), [], { classes: 3 }), RangeError, /logits is empty; expected N >= 1/],
  ["N = 0 as rows", () => crossEntropy([], [], { classes: 3 }), RangeError, /logits is empty/],
  ["V = 0 as rows", () => crossEntropy([[], []], [0, 0]), RangeError, /length 0; expected V >= 1/],
  ["V = 0 as classes", () => crossEntropy(logits, target, { classes: 0 }), RangeError, /options\.classes is 0; expected a positive integer/],
  ["classes not an integer", () => crossEntropy(logits, target, { classes: 2.5 }), RangeError, /options\.classes is 2\.5/],
  ["classes missing for flat input", () => crossEntropy(logits, target), TypeError, /options\.classes is required when logits is a flat array/],
  ["classes missing for number[]", () => crossEntropy([1, 2, 3], [0]), TypeError, /options\.classes is required/],
  ["logits not an array", () => crossEntropy("abc" as unknown as number[], target, { classes: 3 }), TypeError, /logits is string; expected a Float32Array/],
  ["logits entry not a number", () => crossEntropy([1, "x", 3] as unknown as number[], [0], { classes: 3 }), TypeError, /logits\[1\] is string; expected a number/],
  ["ragged rows", () => crossEntropy([[1, 2, 3], [1, 2]], [0, 0]), RangeError, /logits\[1\] has length 2; expected 3/],
  ["rows against classes", () => crossEntropy([[1, 2, 3]], [0], { classes: 4 }), RangeError, /logits\[0\] has length 3; expected options\.classes = 4/],
  ["non-integer target", () => crossEntropy(logits, [0, 1.5], { classes: 3 }), TypeError, /target\[1\] is 1\.5; expected an integer class index in \[0, 3\)/],
  ["NaN target", () => crossEntropy(logits, [Number.NaN, 1], { classes: 3 }), TypeError, /target\[0\] is NaN/],
  ["target out of range", () => crossEntropy(logits, [0, 3], { classes: 3 }), RangeError, /target\[1\] = 3 is out of range; expected an integer in \[0, 3\) or ignoreIndex \(-100\)/],
  ["negative target", () => crossEntropy(logits, [-1, 0], { classes: 3 }), RangeError, /target\[0\] = -1 is out of range/],
  ["Uint32 target out of range", () => crossEntropy(logits, new Uint32Array([0, 4294967295]), { classes: 3 }), RangeError, /target\[1\] = 4294967295 is out of range/],
  ["target wrong length", () => crossEntropy(logits, [0], { classes: 3 }), RangeError, /target has length 1; expected N = 2/],
  ["target wrong type", () => crossEntropy(logits, "0,1" as unknown as number[], { classes: 3 }), TypeError, /target is string; expected an Int32Array/],
  ["object target without probs", () => crossEntropy(logits, {} as { probs: number[] }, { classes: 3 }), TypeError, /target is an object without "probs"/],
  ["probs wrong length", () => crossEntropy(logits, { probs: new Float32Array(5) }, { classes: 3 }), RangeError, /target\.probs has length 5; expected N×V = 2×3 = 6/],
  ["probs rows wrong width", () => crossEntropy(logits, { probs: [[1, 0], [0, 1]] }, { classes: 3 }), RangeError, /target\.probs\[0\] has length 2; expected options\.classes = 3/],
  ["NaN labelSmoothing", () => crossEntropy(logits, target, { classes: 3, labelSmoothing: Number.NaN }), TypeError, /options\.labelSmoothing is NaN; expected a number/],
  ["negative labelSmoothing", () => crossEntropy(logits, target, { classes: 3, labelSmoothing: -0.1 }), RangeError, /options\.labelSmoothing is -0\.1; expected a number in \[0, 1\]/],
  ["labelSmoothing > 1", () => crossEntropy(logits, target, { classes: 3, labelSmoothing: 1.5 }), RangeError, /options\.labelSmoothing is 1\.5/],
  ["negative zLoss", () => crossEntropy(logits, target, { classes: 3, zLoss: -1 }), RangeError, /options\.zLoss is -1; expected a finite number >= 0/],
  ["NaN zLoss", () => crossEntropy(logits, target, { classes: 3, zLoss: Number.NaN }), TypeError, /options\.zLoss is NaN/],
  ["infinite zLoss", () => crossEntropy(logits, target, { classes: 3, zLoss: Infinity }), RangeError, /options\.zLoss is Infinity/],
  ["softcap 0", () => crossEntropy(logits, target, { classes: 3, softcap: 0 }), RangeError, /options\.softcap is 0; expected a finite number > 0/],
  ["negative softcap", () => crossEntropy(logits, target, { classes: 3, softcap: -2 }), RangeError, /options\.softcap is -2/],
  ["NaN softcap", () => crossEntropy(logits, target, { classes: 3, softcap: Number.NaN }), TypeError, /options\.softcap is NaN/],
  ["unknown reduction", () => crossEntropy(logits, target, { classes: 3, reduction: "avg" as "mean" }), RangeError, /options\.reduction is "avg"; expected "mean", "sum" or "none"/],
  ["weight wrong length", () => crossEntropy(logits, target, { classes: 3, weight: [1, 2] }), RangeError, /options\.weight has length 2; expected 3/],
  ["negative weight", () => crossEntropy(logits, target, { classes: 3, weight: [1, -2, 1] }), RangeError, /options\.weight\[1\] is -2; expected a finite number >= 0/],
  ["NaN weight", () => crossEntropy(logits, target, { classes: 3, weight: [1, 1, Number.NaN] }), RangeError, /options\.weight\[2\] is NaN/],
  ["weight wrong type", () => crossEntropy(logits, target, { classes: 3, weight: "1" as unknown as number[] }), TypeError, /options\.weight is string/],
  ["inplace without grad", () => crossEntropy(logits, target, { classes: 3, inplace: true }), TypeError, /options\.inplace needs options\.grad = true/],
  ["inplace on a plain array", () => crossEntropy([0.1, 0.2, 0.3], [0], { classes: 3, grad: true, inplace: true }), TypeError, /options\.inplace needs logits as a Float32Array or Float64Array/],
  ["grad not boolean", () => crossEntropy(logits, target, { classes: 3, grad: 1 as unknown as boolean }), TypeError, /options\.grad is 1; expected true or false/],
  ["ignoreIndex not an integer", () => crossEntropy(logits, target, { classes: 3, ignoreIndex: 0.5 }), TypeError, /options\.ignoreIndex is 0\.5; expected an integer/],
  ["unknown option", () => crossEntropy(logits, target, { classes: 3, label_smoothing: 0.1 } as never), TypeError, /unknown option "label_smoothing"/],
  ["unknown backend", () => crossEntropy(logits, target, { classes: 3, backend: "cuda" }), RangeError, /unknown backend "cuda"; expected one of/],
  ["softmax unknown option", () => softmax(logits, { classes: 3, grad: true } as never), TypeError, /softmax: unknown option "grad"/],
  ["logSoftmax without classes", () => logSoftmax(logits), TypeError, /logSoftmax: options\.classes is required/],
  ["negative probability target", () => crossEntropy(logits, { probs: [0.5, 0.5, 0, 1.2, -0.2, 0] }, { classes: 3 }), RangeError, /crossEntropy: target\.probs\[4\] \(row 1, class 1\) is -0\.2; expected a finite probability >= 0/],
  ["NaN probability target", () => crossEntropy(logits, { probs: new Float32Array([0.5, Number.NaN, 0.5, 0, 0, 1]) }, { classes: 3 }), RangeError, /target\.probs\[1\] \(row 0, class 1\) is NaN; expected a finite probability >= 0/],
  ["infinite probability target", () => crossEntropy(logits, { probs: [[0, 0, 1], [Infinity, 0, 0]] }, { classes: 3 }), RangeError, /target\.probs\[3\] \(row 1, class 0\) is Infinity/],
  ["options a string", () => crossEntropy(logits, target, "mean" as never), TypeError, /crossEntropy: options is the string "mean"; expected an object such as \{ reduction: "mean" \}/],
  ["options an array", () => crossEntropy(logits, target, [3] as never), TypeError, /crossEntropy: options is an array of length 1; expected an object/],
  ["reduction null", () => crossEntropy(logits, target, { classes: 3, reduction: null as never }), RangeError, /options\.reduction is null; expected "mean", "sum" or "none"/],
  ["softmax options a string", () => softmax(logits, "3" as never), TypeError, /softmax: options is the string "3"; expected an object/],
  ["perplexity with reduction", () => perplexity(logits, target, { classes: 3, reduction: "sum" } as never), TypeError, /perplexity: option "reduction" does not apply/],
];

for (const [name, fn, kind, pattern] of cases) {
  test(`bad input: ${name}`, () => throwsLike(fn, kind, pattern));
}

test("errors name the function that was called", () => {
  throwsLike(() => softmax(new Float32Array(5), { classes: 2 }), RangeError, /^softmax: logits has length 5/);
  throwsLike(() => crossEntropy(new Float32Array(5), [0], { classes: 2 }), RangeError, /^crossEntropy: /);
});

test("the caller's arrays are never modified without inplace", () => {
  const x = new Float32Array([1, -2, 3, 0.5, -Infinity, 2]);
  const xs = Float32Array.from(x);
  const t = new Int32Array([2, 0]);
  const w = new Float64Array([1, 2, 3]);
  const p = new Float32Array([0.2, 0.3, 0.5, 1, 0, 0]);
  for (const backend of ["js", "reference"]) {
    crossEntropy(x, t, { classes: 3, grad: true, weight: w, labelSmoothing: 0.1, softcap: 2, zLoss: 0.1, backend });
    crossEntropy(x, { probs: p }, { classes: 3, grad: true, weight: w, backend });
    softmax(x, { classes: 3, backend });
  }
  assert.deepEqual(x, xs);
  assert.deepEqual(t, new Int32Array([2, 0]));
  assert.deepEqual(w, new Float64Array([1, 2, 3]));
  assert.deepEqual(p, new Float32Array([0.2, 0.3, 0.5, 1, 0, 0]));
});

test("a failed validation leaves an inplace buffer untouched", () => {
  const x = new Float32Array([1, 2, 3, 4, 5, 6]);
  assert.throws(() => crossEntropy(x, [0, 7], { classes: 3, grad: true, inplace: true }));
  assert.deepEqual(x, new Float32Array([1, 2, 3, 4, 5, 6]));
});

test("inherited option keys are ignored on every path (own keys only), the engine included", async () => {
  const inherited = Object.assign(Object.create({ reduction: "sum", labelSmoothing: 0.5 }) as object, { classes: 3 });
  const want = crossEntropy(logits, target, { classes: 3 });
  assert.deepEqual(crossEntropy(logits, target, inherited), want, "crossEntropy");
  assert.equal(perplexity(logits, target, inherited), Math.exp(want.loss as number), "perplexity");
  const engine = await createEngine({ backend: "js" });
  try {
    assert.deepEqual(await engine.crossEntropy(logits, target, inherited), want, "engine");
  } finally {
    engine.dispose();
  }
  const onlyInherited = Object.create({ classes: 3 }) as object;
  throwsLike(() => crossEntropy(logits, target, onlyInherited), TypeError, /options\.classes is required/);
});
