/**
 * The public slice API (sliceStats, mergeSliceStats, sliceGrad): shards of the logits merge to
 * crossEntropy's loss and lse on the full logits, and their gradients are crossEntropy's columns,
 * for every option on index and probability targets, float32 and float64; the example of
 * docs/slices.md runs and checks the same; bad input gets errors naming the function, the argument,
 * the index and what was expected.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { crossEntropy, mergeSliceStats, sliceGrad, sliceStats, type CrossEntropyOptions, type SliceOptions, type TargetInput } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";
import { codeBlocks, read, root } from "../docs/markdown.js";
import { genTargets, genValues } from "../helpers/gen.js";

/** Columns [v0, v1) of (n, v) row-major x, in x's type. */
function columns<T extends Float32Array | Float64Array>(x: T, n: number, v: number, v0: number, v1: number): T {
  const out = (x instanceof Float32Array ? new Float32Array(n * (v1 - v0)) : new Float64Array(n * (v1 - v0))) as T;
  for (let i = 0; i < n; i++) out.set(x.subarray(i * v + v0, i * v + v1), i * (v1 - v0));
  return out;
}

test("shards merge to crossEntropy on the full logits: loss, lse and gradient, every option", () => {
  const n = 5;
  const v = 37;
  const bounds = [0, 1, 9, 10, 30, 37]; // widths 1, 8, 1, 20, 7
  const weight = Float64Array.from(genValues(v, 3, 1), (x) => Math.abs(x) + 0.1);
  const probsAll = Float64Array.from(genValues(n * v, 4, 1), (x) => Math.abs(x) / 10);
  const idx = Array.from(genTargets(n, 7, v));
  idx[2] = -100;
  const optionSets: CrossEntropyOptions[] = [
    {},
    { labelSmoothing: 0.1, weight, zLoss: 1e-3, softcap: 3, reduction: "sum" },
    { reduction: "none", weight },
  ];
  for (const f32 of [true, false]) {
    const raw = genValues(n * v, 11, 6);
    raw[3] = -Infinity;
    const full = f32 ? new Float32Array(raw) : Float64Array.from(raw);
    const probs = f32 ? new Float32Array(probsAll) : probsAll;
    for (const opts of optionSets) {
      for (const probTarget of [false, true]) {
        const label = `${f32 ? "f32" : "f64"} ${JSON.stringify({ ...opts, weight: opts.weight ? "w" : undefined })} ${probTarget ? "probs" : "index"}`;
        const want = crossEntropy(full, probTarget ? { probs } : idx, { ...opts, classes: v, grad: true });
        const options = (k: number): SliceOptions => ({ ...opts, classes: v, v0: bounds[k]!, v1: bounds[k + 1]! });
        const target = (k: number): TargetInput => (probTarget ? { probs: columns(probs, n, v, bounds[k]!, bounds[k + 1]!) } : idx);
        const parts = bounds.slice(1).map((_, k) => sliceStats(columns(full, n, v, bounds[k]!, bounds[k + 1]!), target(k), options(k)));
        const merged = mergeSliceStats(parts, probTarget ? null : idx, options(0));
        const tol = f32 ? { atol: 1e-5, rtol: 1e-5 } : { atol: 1e-12, rtol: 1e-10 };
        if (typeof want.loss === "number") assertClose(merged.loss as number, want.loss, tol, `${label} loss`);
        else assertClose(merged.loss as Float64Array, want.loss, tol, `${label} per-token loss`);
        assertClose(merged.lse, want.lse, tol, `${label} lse`);
        for (let k = 0; k + 1 < bounds.length; k++) {
          const g = sliceGrad(columns(full, n, v, bounds[k]!, bounds[k + 1]!), target(k), merged, options(k));
          assert.equal(g instanceof Float32Array, f32, `${label}: the gradient's type follows the logits`);
          assertClose(g, columns(want.grad!, n, v, bounds[k]!, bounds[k + 1]!), f32 ? { atol: 1e-6, rtol: 1e-4 } : { atol: 1e-12, rtol: 1e-9 }, `${label} grad of shard ${k}`);
        }
      }
    }
  }
});

test("the example of docs/slices.md runs and checks the merged loss against crossEntropy", async () => {
  const block = codeBlocks(read("docs/slices.md")).find((b) => b.lang === "ts" && b.code.includes("mergeSliceStats"));
  assert.ok(block !== undefined, "docs/slices.md has a TypeScript example of mergeSliceStats");
  assert.match(block.code, /crossEntropy\(full/, "the example compares with crossEntropy on the full logits");
  const js = ts.transpileModule(block.code.replace(/from "xent"/, `from ${JSON.stringify(pathToFileURL(join(root, "src/index.ts")).href)}`), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const dir = mkdtempSync(join(tmpdir(), "xent-slices-doc-"));
  const log = console.log;
  const printed: unknown[][] = [];
  try {
    const file = join(dir, "example.mjs");
    writeFileSync(file, js);
    console.log = (...a: unknown[]) => printed.push(a);
    await import(pathToFileURL(file).href); // throws when the merged loss or gradient differ
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(printed.length, 1, "the example printed its result");
  const want = crossEntropy(Float32Array.from([0.5, -1, 2, 1, 0, -0.5, 0.25, 3, -2, 0.75, 1.5, 0]), [4, 1], { classes: 6, labelSmoothing: 0.1 });
  assertClose(printed[0]![0] as number, want.loss as number, { atol: 1e-6, rtol: 1e-6 }, "the example's merged loss");
});

function throwsLike(fn: () => unknown, kind: typeof TypeError | typeof RangeError, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof kind, `expected ${kind.name}, got ${String(e)}`);
    assert.match((e as Error).message, pattern);
    return true;
  });
}

test("bad input to the slice API: the function, the argument, the index and what was expected", () => {
  const x = new Float32Array([0.1, 0.2, 0.3, 0.4]); // (2, 2): classes [2, 4) of V = 5
  const o: SliceOptions = { classes: 5, v0: 2, v1: 4 };
  const good = [sliceStats(new Float32Array(4), [0, 3], { classes: 5, v0: 0, v1: 2 }), sliceStats(x, [0, 3], o), sliceStats(new Float32Array(2), [0, 3], { classes: 5, v0: 4, v1: 5 })];
  const merged = mergeSliceStats(good, [0, 3], o);
  const cases: [string, () => unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    ["classes missing", () => sliceStats(x, [0, 3], { v0: 2, v1: 4 } as SliceOptions), TypeError, /^sliceStats: options\.classes is required; expected the full vocabulary size V/],
    ["v0 missing", () => sliceStats(x, [0, 3], { classes: 5, v1: 4 }), TypeError, /^sliceStats: options\.v0 is required; expected the shard's classes \[v0, v1\) of V = 5/],
    ["v1 not an integer", () => sliceGrad(x, [0, 3], merged, { classes: 5, v0: 2, v1: 3.5 }), RangeError, /^sliceGrad: options\.v1 is 3\.5; expected an integer >= 0/],
    ["v1 beyond classes", () => sliceStats(x, [0, 3], { classes: 5, v0: 2, v1: 6 }), RangeError, /options\.v0 = 2, options\.v1 = 6; expected 0 <= v0 < v1 <= classes = 5/],
    ["empty shard", () => sliceStats(x, [0, 3], { classes: 5, v0: 2, v1: 2 }), RangeError, /expected 0 <= v0 < v1/],
    ["unknown option", () => sliceStats(x, [0, 3], { ...o, grad: true } as SliceOptions), TypeError, /^sliceStats: unknown option "grad"; expected one of classes, reduction/],
    ["logits not N×width", () => sliceStats(new Float32Array(5), [0, 3], o), RangeError, /^sliceStats: logits has length 5; expected N×\(v1 − v0\) with N >= 1 and v1 − v0 = 2/],
    ["logits rows of the wrong width", () => sliceStats([[1, 2, 3]], [0], o), RangeError, /^sliceStats: logits rows have length 3; expected v1 − v0 = 2/],
    ["target out of the full range", () => sliceStats(x, [0, 5], o), RangeError, /^sliceStats: target\[1\] = 5 is out of range; expected an integer in \[0, 5\)/],
    ["target length", () => sliceStats(x, [0], o), RangeError, /^sliceStats: target has length 1; expected N = 2/],
    ["probs not the shard's width", () => sliceStats(x, { probs: new Float32Array(10) }, o), RangeError, /^sliceStats: target\.probs has length 10; expected N×V = 2×2 = 4/],
    ["weight of the shard's length", () => sliceStats(x, [0, 3], { ...o, weight: [1, 1] }), RangeError, /^sliceStats: options\.weight has length 2; expected 5 \(one per class\)/],
    ["parts not an array", () => mergeSliceStats(good[0] as never, [0, 3], o), TypeError, /^mergeSliceStats: parts is object; expected a non-empty array of sliceStats results/],
    ["parts out of order", () => mergeSliceStats([good[1]!, good[0]!, good[2]!], [0, 3], o), RangeError, /^mergeSliceStats: parts\[0\] covers classes \[2, 4\); expected \[0, v1\) with 0 < v1 <= 5: parts must tile \[0, classes\) in order/],
    ["a part missing", () => mergeSliceStats([good[0]!, good[2]!], [0, 3], o), RangeError, /^mergeSliceStats: parts\[1\] covers classes \[4, 5\); expected \[2, v1\)/],
    ["parts short of V", () => mergeSliceStats(good.slice(0, 2), [0, 3], o), RangeError, /^mergeSliceStats: parts end at class 4; expected them to cover \[0, classes = 5\)/],
    ["a field of the wrong length", () => mergeSliceStats([good[0]!, { ...good[1]!, sumExp: new Float64Array(3) }, good[2]!], [0, 3], o), RangeError, /^mergeSliceStats: parts\[1\]\.sumExp has length 3; expected N = 2/],
    ["a field not numbers", () => mergeSliceStats([good[0]!, { ...good[1]!, max: ["a", 1] as unknown as Float64Array }, good[2]!], [0, 3], o), TypeError, /^mergeSliceStats: parts\[1\]\.max\[0\] is string; expected a number/],
    ["merge target of another length", () => mergeSliceStats(good, [0, 3, 1], o), RangeError, /^mergeSliceStats: parts\[0\]\.max has length 2; expected N = 3/],
    ["merge target as probs", () => mergeSliceStats(good, { probs: [1] }, o), TypeError, /^mergeSliceStats: target is object; expected the class indices .* or null for probability targets/],
    ["merged not an object", () => sliceGrad(x, [0, 3], 3 as never, o), TypeError, /^sliceGrad: merged is 3; expected the result of mergeSliceStats/],
    ["merged of other rows", () => sliceGrad(new Float32Array(2), [0], merged, o), RangeError, /^sliceGrad: merged\.max has length 2; expected N = 1/],
  ];
  for (const [name, fn, kind, pattern] of cases) {
    try {
      throwsLike(fn, kind, pattern);
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
  }
  assert.deepEqual(Array.from(x), [0.1, 0.2, 0.3, 0.4].map(Math.fround), "the caller's logits are untouched");
});
