/**
 * The slice contract: on every backend, computing a call slice by slice (rowStats over a split
 * of V into 1 to 7 slices at seeded random boundaries, mergeStats, sliceBackward per slice)
 * equals the same backend's fused result: float32 loss and lse within 1e-6 relative (the absolute
 * part scaled by max|logit|), float32 gradient within the core tolerance (1e-6 + 1e-4·|g|);
 * float64 within 1e-10 / 1e-9. The same boundaries give the same bits, whether each slice runs on
 * full rows or as a shard holding only its own columns.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import type { CrossEntropyArgs, CrossEntropyResult, FloatArray, MergedStats } from "../../src/backends/types.js";
import { WasmInstance } from "../../src/backends/wasm/instance.js";
import { assertClose, type Tolerance } from "../helpers/close.js";
import { argsOf, boundariesFor, jsSlices, maxAbs, referenceSlices, runSliced, sliceCases, wasmSlices, type SliceBackend, type SliceCase } from "./cases.js";

let inst: WasmInstance;
before(async () => {
  inst = await WasmInstance.create("own");
});

function tolerances(f32: boolean, c: SliceCase): { value: Tolerance; grad: Tolerance } {
  const m = maxAbs(c.logits);
  return f32
    ? { value: { atol: 1e-6 * m, rtol: 1e-6 }, grad: { atol: 1e-6, rtol: 1e-4 } }
    : { value: { atol: 1e-12 * m, rtol: 1e-10 }, grad: { atol: 1e-12, rtol: 1e-9 } };
}

function compare(label: string, got: { merged: MergedStats; grad: FloatArray | null }, want: CrossEntropyResult, wantGrad: FloatArray | null, tol: { value: Tolerance; grad: Tolerance }): void {
  assertClose(got.merged.loss, want.loss, tol.value, `${label} loss`);
  assertClose(got.merged.rowLoss, want.rowLoss, tol.value, `${label} per-token loss`);
  assertClose(got.merged.lse, want.lse, tol.value, `${label} lse`);
  if (wantGrad !== null) assertClose(got.grad!, wantGrad, tol.grad, `${label} grad`);
}

function sameBits(label: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  assert.equal(a.length, b.length, `${label}: lengths differ`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${label}: not bitwise identical at index ${i}: ${a[i]} and ${b[i]}`);
  }
}

function checkBackend(be: () => SliceBackend): void {
  test(`slices of V merge to the fused result (${be().name})`, () => {
    const b = be();
    let runs = 0;
    sliceCases().forEach((c, ci) => {
      for (const f32 of b.f64 ? [true, false] : [true]) {
        const tol = tolerances(f32, c);
        const fusedArgs = argsOf(c, f32, true);
        const want = b.fused(fusedArgs);
        const wantGrad = fusedArgs.gradOut;
        const all = boundariesFor(c.v, 1000 + ci);
        // One slice, one random split of 2 to 7 slices and one edge split per case, rotating
        // with the case so that every split runs on every shape.
        const splits = [all[0]!, all[1 + (ci % 6)]!, all[7 + (ci % 3)]!];
        for (const bounds of splits) {
          const label = `${b.name} ${c.name} [${f32 ? "f32" : "f64"}] slices ${bounds.join(",")}`;
          const got = runSliced(b, argsOf(c, f32, true), bounds);
          compare(label, got, want, wantGrad, tol);
          runs++;
        }
        // Fixed boundaries, fixed merge order: the same bits again, and as shards holding only their columns.
        const bounds = all[6]!;
        const label = `${b.name} ${c.name} [${f32 ? "f32" : "f64"}] slices ${bounds.join(",")}`;
        const first = runSliced(b, argsOf(c, f32, true), bounds);
        const again = runSliced(b, argsOf(c, f32, true), bounds);
        const shards = runSliced(b, argsOf(c, f32, true), bounds, true);
        for (const [name, other] of [["again", again], ["as shards", shards]] as const) {
          sameBits(`${label} ${name} loss`, [first.merged.loss], [other.merged.loss]);
          sameBits(`${label} ${name} per-token loss`, first.merged.rowLoss, other.merged.rowLoss);
          sameBits(`${label} ${name} lse`, first.merged.lse, other.merged.lse);
          sameBits(`${label} ${name} grad`, first.grad!, other.grad!);
        }
      }
    });
    assert.ok(runs > 1000, `ran ${runs} sliced calls`);
  });
}

checkBackend(() => referenceSlices);
checkBackend(() => jsSlices);
checkBackend(() => wasmSlices(inst));

test("the reference slice path equals the reference fused path tightly, in float64", () => {
  for (const c of sliceCases()) {
    if (!c.name.includes("/plain/") && !c.name.includes("/masked/")) continue;
    const args = argsOf(c, false, true);
    const want = referenceSlices.fused(args);
    const got = runSliced(referenceSlices, argsOf(c, false, true), boundariesFor(c.v, 7)[5]!);
    const m = maxAbs(c.logits);
    compare(`reference ${c.name}`, got, want, args.gradOut, { value: { atol: 1e-13 * m, rtol: 1e-13 }, grad: { atol: 1e-15, rtol: 1e-12 } });
  }
});

test("slice semantics at the edges: V = 1, all rows ignored, an empty slice", () => {
  for (const be of [referenceSlices, jsSlices, wasmSlices(inst)]) {
    const v1: CrossEntropyArgs = { ...argsOf(sliceCases().find((c) => c.name.startsWith("4x1/index/plain/sum/"))!, true, true) };
    const r = runSliced(be, v1, [0, 0, 1, 1]);
    assertClose(r.merged.rowLoss.subarray(0, 3), [0, 0, 0], { atol: 0, rtol: 0 }, `${be.name} V = 1: loss 0`);
    const ign = sliceCases().find((c) => c.name.startsWith("6x37/ignored/plain/mean/eps=0.1,w=true"))!;
    const a = argsOf(ign, true, true);
    a.gradOut!.fill(7);
    const r2 = runSliced(be, a, [0, 5, 5, 37]);
    assert.ok(Number.isNaN(r2.merged.loss), `${be.name} all ignored: mean is NaN`);
    assertClose(r2.grad!, new Float32Array(6 * 37), { atol: 0, rtol: 0 }, `${be.name} all ignored: zero gradient`);
  }
});
