// The vectorised float32 exp of the wasm kernels, on its own: a dense sweep of x <= 0 against
// float64 Math.exp, in units in the last place of the float32 result.
import assert from "node:assert/strict";
import { test } from "node:test";
import { WasmInstance } from "../../../src/backends/wasm/instance.js";
import { detectFeatures } from "../../../src/backends/wasm/loader.js";

/** The spacing of float32 numbers at |y| (subnormal spacing below the normal range). */
function ulp32(y: number): number {
  const a = Math.abs(y);
  if (a < 2 ** -126) return 2 ** -149;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  return 2 ** (e - 23);
}

test("wasm exp4: <= 2 ulp over a dense sweep of x in [-104, 0] (and exact specials)", async () => {
  assert.ok(detectFeatures().simd, "this runtime should have WebAssembly SIMD");
  if (process.env.XENT_EXPECT_RELAXED === "1") assert.ok(detectFeatures().relaxedSimd, "the relaxed-SIMD build is in use");
  if (process.env.XENT_EXPECT_RELAXED === "0") assert.ok(!detectFeatures().relaxedSimd, "the plain SIMD build is in use");
  const inst = await WasmInstance.create("own");
  // A dense sweep, then the eleven hardest x found by scripts/exp-exhaustive.ts (every float32 in
  // [-104, 0]), which the sweep passes between: the eight worst of the fused build (1.96–1.98
  // ulp), then the three worst of its degree-4 polynomial without fused multiply-add (up to 2.26
  // ulp), the pairing the loader avoids.
  const hard = [-2.937145233154297, -2.9382195472717285, -2.9410629272460938, -62.54796600341797, -2.9365668296813965, -2.933244228363037, -2.9376089572906494, -41.063453674316406, -27.333209991455078, -27.335054397583008, -37.72860336303711];
  const sweep = (1 << 21) + 3;
  const n = sweep + hard.length; // not a multiple of 4: the scalar tail runs too
  const src = inst.alloc(n * 4);
  const dst = inst.alloc(n * 4);
  const x = inst.f32(src, n);
  for (let i = 0; i < sweep; i++) x[i] = (-104 * i) / (sweep - 1);
  x.set(hard, sweep);
  inst.exports.expArray(src, dst, n);
  const xs = inst.f32(src, n);
  const y = inst.f32(dst, n);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const want = Math.exp(xs[i]!);
    const err = Math.abs(y[i]! - want) / ulp32(want);
    if (err > worst) {
      worst = err;
      at = xs[i]!;
    }
  }
  assert.ok(worst <= 2, `worst error ${worst} ulp at x = ${at}`);

  // Special values: exp(0) = 1, exp(-Inf) = 0, exp(NaN) = NaN, deep underflow = 0, in both the
  // vector lanes and the scalar tail (7 values: one vector of 4 plus a tail of 3).
  const sp = [0, -Infinity, Number.NaN, -200, -0, -1e-30, -103.9, -1, -2, -3, -4, -5, -6, -7];
  const s2 = inst.alloc(sp.length * 4);
  const d2 = inst.alloc(sp.length * 4);
  inst.f32(s2, sp.length).set(sp);
  inst.exports.expArray(s2, d2, sp.length);
  const out = inst.f32(d2, sp.length);
  assert.equal(out[0], 1);
  assert.equal(out[1], 0);
  assert.ok(Number.isNaN(out[2]));
  assert.equal(out[3], 0);
  assert.equal(out[4], 1);
  assert.equal(out[5], 1);
  assert.ok(Math.abs(out[6]! - Math.exp(Math.fround(-103.9))) <= 2 * 2 ** -149);
  // NaN with a payload (as hardware may propagate it) stays NaN in every lane position.
  const bits = new Uint32Array(sp.length).fill(0x7fc00001);
  for (let k = 0; k < sp.length; k++) bits[k] = k % 2 === 0 ? 0x7fc00001 + k : 0xffc00003 + k;
  new Uint32Array(inst.buffer(), s2, sp.length).set(bits);
  inst.exports.expArray(s2, d2, sp.length);
  for (const [k, y] of inst.f32(d2, sp.length).entries()) assert.ok(Number.isNaN(y), `exp(NaN payload ${k}) = ${y}`);
  for (const p of [src, dst, s2, d2]) inst.free(p);
});
