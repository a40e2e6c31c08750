/**
 * What LM training reads from the loss (temperature, an external denominator, accuracy, argmax,
 * entropy, the z-loss term apart), against PyTorch's float64 fixtures
 * (fixtures/torch-lm-outputs.json, scripts/make_fixtures_lm.py): the reference backend case by
 * case at float64 tolerance, then every row of the conformance matrix at its tolerance.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createEngine, crossEntropy, init, type CrossEntropyOptions, type CrossEntropyOutput, type TargetInput } from "../../src/index.js";
import { assertClose, type Tolerance } from "../helpers/close.js";
import { crossEntropyTolerance, label, MATRIX, runnerFor, type Dtype } from "../conformance/matrix.js";
import { lmCeFixtures, type LmCeCase, type ReducedOut } from "./fixtures.js";

const cases = lmCeFixtures();

/** The fixture's options as crossEntropy options, every output asked for (accuracy with index targets). */
function optionsOf(c: LmCeCase): CrossEntropyOptions {
  return { ...(c.options as CrossEntropyOptions), classes: c.v, argmax: true, entropy: true, accuracy: c.target instanceof Int32Array };
}

/** The logits the softmax sees, c = softcap(x)/τ, in float64 (for the argmax tie check). */
function softmaxLogits(c: LmCeCase): Float64Array {
  const s = (c.options.softcap as number | undefined) ?? 0;
  const tau = (c.options.temperature as number | undefined) ?? 1;
  return c.logits.map((x) => (s > 0 ? s * Math.tanh(x / s) : x) / tau);
}

function targetOf(c: LmCeCase): TargetInput {
  return c.target instanceof Int32Array ? c.target : { probs: c.target.probs };
}

function checkReduced(got: number | ArrayLike<number> | undefined, want: ReducedOut, tol: Tolerance, name: string): void {
  if (want === null) {
    assert.equal(got, undefined, `${name}: present, want absent`);
    return;
  }
  assert.notEqual(got, undefined, `${name}: absent`);
  if (typeof want === "number") assertClose(got as number, want, tol, name);
  else assertClose(got as ArrayLike<number>, want, tol, name);
}

/**
 * Compare with the fixture. `dtype` float32 runs may pick, on a near-tie that float64 separates,
 * another maximal class: their argmax is accepted when its logit is within `value` tolerance of
 * the row's max.
 */
function compare(name: string, c: LmCeCase, got: CrossEntropyOutput, tol: { value: Tolerance; grad: Tolerance }, f32 = false): void {
  const w = c.want;
  assert.ok(got.argmax instanceof Int32Array && got.argmax.length === c.n, `${name}: argmax is an Int32Array of N`);
  let sameArgmax = true;
  const cs = softmaxLogits(c);
  for (let i = 0; i < c.n; i++) {
    const a = got.argmax[i]!;
    const b = w.argmax[i]!;
    if (a === b) continue;
    sameArgmax = false;
    assert.ok(f32, `${name}: argmax[${i}] is ${a}, want ${b}`);
    const ca = cs[i * c.v + a]!;
    const cb = cs[i * c.v + b]!;
    assert.ok(Math.abs(ca - cb) <= tol.value.atol + tol.value.rtol * Math.abs(cb), `${name}: argmax[${i}] is ${a} (c = ${ca}), want ${b} (c = ${cb}), not a float32 tie`);
  }
  if (sameArgmax) checkReduced(got.accuracy, w.accuracy, { atol: 1e-12, rtol: 1e-12 }, `${name} accuracy`);
  checkReduced(got.entropy, w.entropy, tol.value, `${name} entropy`);
  checkReduced(got.zLoss, w.zLoss, tol.value, `${name} zLoss`);
  if (w.loss !== null) assertClose(got.loss as number, w.loss, tol.value, `${name} loss`);
  else assertClose(got.loss as ArrayLike<number>, w.rowLoss, tol.value, `${name} per-token loss`);
  assertClose(got.lse, w.lse, tol.value, `${name} lse`);
  if (got.grad !== undefined) {
    const g = got.grad;
    const grad = w.gradIndex === null ? g : w.gradIndex.map((i) => g[i]!);
    assertClose(grad, w.grad, tol.grad, `${name} grad`, w.gradIndex ?? undefined);
  }
}

test("the LM-output fixtures cover every new option and edge case", () => {
  assert.ok(cases.length >= 200, `only ${cases.length} cases`);
  const names = cases.map((c) => c.name).join("\n");
  for (const needle of ["temperature=0.5", "temperature=2.5", "softcap=3.0", "denominator=", "denominator/split", "probs/", "ties/", "shape/1x1", "shape/3x100", "extreme/pm1e4", "mask/neginf", "ignore/all", "vocab/50257"]) {
    assert.ok(names.includes(needle), `no fixture named like ${needle}`);
  }
});

for (const c of cases) {
  test(`reference matches PyTorch (LM outputs): ${c.name}`, () => {
    let maxAbs = 1;
    for (const x of c.logits) if (Number.isFinite(x)) maxAbs = Math.max(maxAbs, Math.abs(x));
    const tol = { value: { atol: 1e-12 * maxAbs, rtol: 1e-10 }, grad: { atol: 1e-12, rtol: 1e-9 } };
    const out = crossEntropy(c.logits, targetOf(c), { ...optionsOf(c), grad: true, backend: "reference" });
    compare(c.name, c, out, tol);
  });
}

// Every row of the conformance matrix on the fixtures; the GPT-2 sized ones on the synchronous fast rows only.
const small = cases.filter((c) => c.v < 1000);

for (const row of MATRIX) {
  const run = runnerFor(row);
  test(`${label(row)}: LM outputs match PyTorch`, async () => {
    for (const c of row.mode === "sync" && row.backend !== "reference" ? cases : small) {
      for (const dtype of row.dtypes) {
        const f32 = dtype === "float32";
        const x = f32 ? new Float32Array(c.logits) : Float64Array.from(c.logits);
        const tol = crossEntropyTolerance(dtype as Dtype, c.logits);
        const tag = `${label(row)} ${c.name} [${dtype}]`;
        compare(tag, c, await run.crossEntropy(x, targetOf(c), { ...optionsOf(c), grad: true }), tol, f32);
        compare(`${tag} no grad`, c, await run.crossEntropy(x, targetOf(c), optionsOf(c)), tol, f32);
      }
    }
  });
}

test("micro-batches with the step's denominator add up to the step's mean: loss, gradient, accuracy, entropy, z-loss", async () => {
  const byName = new Map(cases.map((c) => [c.name, c]));
  const whole = byName.get("denominator/whole")!;
  const parts = [byName.get("denominator/split0-3")!, byName.get("denominator/split3-6")!];
  for (const row of MATRIX) {
    const run = runnerFor(row);
    for (const dtype of row.dtypes) {
      const f32 = dtype === "float32";
      const tol = crossEntropyTolerance(dtype as Dtype, whole.logits);
      const arr = (x: ArrayLike<number>): Float32Array | Float64Array => (f32 ? new Float32Array(x) : Float64Array.from(x));
      const want = await run.crossEntropy(arr(whole.logits), targetOf(whole), { ...optionsOf(whole), grad: true });
      const got = await Promise.all(parts.map((p) => run.crossEntropy(arr(p.logits), targetOf(p), { ...optionsOf(p), grad: true })));
      const tag = `${label(row)} [${dtype}]`;
      for (const key of ["loss", "accuracy", "entropy", "zLoss"] as const) {
        assertClose((got[0]![key] as number) + (got[1]![key] as number), want[key] as number, tol.value, `${tag} ${key} of the two micro-batches`);
      }
      const grad = new Float64Array(whole.n * whole.v);
      grad.set(got[0]!.grad!, 0);
      grad.set(got[1]!.grad!, parts[0]!.n * whole.v);
      assertClose(grad, want.grad!, tol.grad, `${tag} gradient of the two micro-batches`);
    }
  }
});

test("zLoss: 0 adds no term at all: the same bits as without the option, and no zLoss output", async () => {
  const c = cases.find((k) => k.name.startsWith("grid/reduction=mean,temperature=0.5,softcap=3.0,ignoreIndex=2"))!;
  for (const row of MATRIX) {
    const run = runnerFor(row);
    for (const dtype of row.dtypes) {
      const x = dtype === "float32" ? new Float32Array(c.logits) : Float64Array.from(c.logits);
      const base = { ...optionsOf(c), grad: true };
      delete base.zLoss;
      const without = await run.crossEntropy(x, targetOf(c), base);
      const zero = await run.crossEntropy(x, targetOf(c), { ...base, zLoss: 0 });
      const tag = `${label(row)} [${dtype}]`;
      assert.equal(zero.zLoss, undefined, `${tag}: a zLoss output with zLoss 0`);
      assert.ok(Object.is(zero.loss, without.loss), `${tag}: loss ${String(zero.loss)} with zLoss 0, ${String(without.loss)} without`);
      assert.deepEqual(zero.grad, without.grad, `${tag}: gradient`);
      assert.deepEqual(zero.lse, without.lse, `${tag}: lse`);
      const withZ = await run.crossEntropy(x, targetOf(c), { ...base, zLoss: 0.01 });
      assert.equal(typeof withZ.zLoss, "number", `${tag}: zLoss output with zLoss 0.01`);
    }
  }
});

test("the new options: clear errors naming the function, the option, the value and what was expected", () => {
  const x = new Float32Array(6);
  const y = [0, 1];
  const cases: [CrossEntropyOptions, RegExp][] = [
    [{ temperature: 0 }, /crossEntropy: options\.temperature is 0; expected a finite number > 0/],
    [{ temperature: Infinity }, /options\.temperature is Infinity; expected a finite number > 0/],
    [{ denominator: -1 }, /options\.denominator is -1; expected a finite number > 0/],
    [{ denominator: 4, reduction: "sum" }, /crossEntropy: options\.denominator is given with reduction "sum"; expected reduction "mean"/],
    [{ denominator: 4, reduction: "none" }, /options\.denominator is given with reduction "none"/],
  ];
  for (const [o, re] of cases) assert.throws(() => crossEntropy(x, y, { classes: 3, ...o }), re);
  assert.throws(() => crossEntropy(x, y, { classes: 3, accuracy: "yes" as unknown as boolean }), /options\.accuracy is string; expected true or false/);
  assert.throws(
    () => crossEntropy(x, { probs: new Float32Array(6).fill(1 / 3) }, { classes: 3, accuracy: true }),
    /crossEntropy: options\.accuracy needs class-index targets; got probability targets/,
  );
  assert.throws(() => crossEntropy(x, y, { classes: 3, ["temprature" as "temperature"]: 2 }), /unknown option "temprature"/);
});

test("few rows of a large vocabulary on the wasm engine (where threads split the vocabulary): temperature, argmax, accuracy and entropy follow the reference", async () => {
  // N = 3 <= 8 rows and V >= 4 slices of 8192: the engine's vocabulary split, whose slice kernels
  // have none of these options; the call must run the fused row kernel instead.
  const n = 3;
  const v = 4 * 8192 + 3;
  const logits = new Float32Array(n * v);
  let s = 12345;
  for (let k = 0; k < logits.length; k++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    logits[k] = (s / 2 ** 32) * 16 - 8;
  }
  logits[v + 7] = -Infinity;
  const argmaxOf = (i: number): number => {
    let a = 0;
    for (let j = 1; j < v; j++) if (logits[i * v + j]! > logits[i * v + a]!) a = j;
    return a;
  };
  const target = [argmaxOf(0), 5, -100];
  const options: CrossEntropyOptions = { classes: v, temperature: 1.7, accuracy: true, argmax: true, entropy: true, zLoss: 1e-3, softcap: 12 };
  const want = crossEntropy(Float64Array.from(logits), target, { ...options, grad: true, backend: "reference" });
  const tol = crossEntropyTolerance("float32", logits);
  const engine = await createEngine({ backend: "wasm", threads: 2 });
  try {
    for (const grad of [true, false]) {
      const got = await engine.crossEntropy(logits, target, { ...options, grad });
      const tag = `wasm engine N=${n} V=${v} grad ${grad}`;
      for (const key of ["loss", "accuracy", "entropy", "zLoss"] as const) assertClose(got[key] as number, want[key] as number, tol.value, `${tag} ${key}`);
      assertClose(got.lse, want.lse, tol.value, `${tag} lse`);
      assert.deepEqual([...got.argmax!], [...want.argmax!], `${tag} argmax`);
      if (grad) assertClose(got.grad!, want.grad!, tol.grad, `${tag} gradient`);
    }
  } finally {
    engine.dispose();
  }
});

test("argmax over chunks: the first maximal index when the max recurs in later chunks, at chunk edges, with −Infinity and NaN rows (every backend, with and without the gradient)", async () => {
  // V spans several of the kernels' 2048-element chunks; each row places exact ties of its max
  // (so float32 and float64 agree on the answer) where a scan of only the wrong chunk would err.
  const v = 3 * 2048 + 517;
  await init();
  const rows: [number, number][][] = [
    [[5000, 9], [6000, 9]], // max first in the third chunk, again in the fourth
    [[2047, 9], [2048, 9], [4095, 9]], // the last element of a chunk, then the first of the next
    [[0, 9], [v - 1, 9]], // the first element and the last
    [[2048, 9], [10, 8.5]], // a smaller value earlier: the max is where it first appears
    [[v - 1, 9]], // only the tail
    [[3000, Infinity], [7000, Infinity]], // +Infinity ties
    [], // all equal: index 0
  ];
  const n = rows.length + 2;
  const x = new Float32Array(n * v);
  let s = 99;
  rows.forEach((places, i) => {
    for (let j = 0; j < v; j++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      x[i * v + j] = i === rows.length - 1 ? 1 : (s / 2 ** 32) * 8 - 4;
    }
    for (const [j, val] of places) x[i * v + j] = val;
  });
  x.fill(-Infinity, rows.length * v, (rows.length + 1) * v); // a fully masked row
  x.fill(0.5, (rows.length + 1) * v, n * v);
  x[(rows.length + 1) * v + 4100] = NaN; // a NaN row
  const target = Array.from({ length: n }, (_, i) => (i * 7) % v);
  const want = crossEntropy(Float64Array.from(x), target, { classes: v, argmax: true, backend: "reference" }).argmax!;
  assert.deepEqual([...want.slice(0, 5)], [5000, 2047, 0, 2048, v - 1], "the reference's own argmax");
  const engine = await createEngine({ backend: "wasm", threads: 2 });
  try {
    for (const grad of [false, true]) {
      for (const backend of ["js", "wasm"] as const) {
        const got = crossEntropy(x, target, { classes: v, argmax: true, grad, backend });
        assert.deepEqual([...got.argmax!], [...want], `${backend} grad ${grad}`);
      }
      for (const options of [{}, { softcap: 30 }, { temperature: 0.5 }]) {
        const got = await engine.crossEntropy(x, target, { classes: v, argmax: true, grad, ...options });
        const ref = crossEntropy(Float64Array.from(x), target, { classes: v, argmax: true, backend: "reference", ...options }).argmax!;
        assert.deepEqual([...got.argmax!], [...ref], `wasm engine grad ${grad} ${JSON.stringify(options)}`);
      }
    }
  } finally {
    engine.dispose();
  }
});
