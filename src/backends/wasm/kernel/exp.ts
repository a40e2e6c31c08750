// Vectorised float32 exp (AssemblyScript, SIMD128).
//
// exp(x) = 2^n · e^r with n = round(x·log2 e) and r = x − n·ln 2 in [−ln2/2, ln2/2] (Cody–Waite
// split of ln 2, so n·C1 is exact); e^r = 1 + r·P(r) with a degree-5 minimax P, by Horner.
// 2^n is added to the exponent field, or where the result would be subnormal applied as two exact
// power-of-two factors 2^(n>>1) · 2^(n − n>>1), so results down to the subnormal range are
// rounded once. Inputs are clamped to [−104, 88.7]: below −104 the result
// rounds to 0 (also for −Infinity); NaN stays NaN. Accurate to ≤ 2 ulp over x ≤ 0 (tested by a
// dense sweep against float64 Math.exp in test/backends/wasm/exp.test.ts).
import { madd } from "./simd";

// @ts-ignore: decorator
@inline const LOG2E: f32 = 1.44269504088896341;
// @ts-ignore: decorator
@inline const SHIFTER: f32 = 12582912.0; // 1.5·2^23
// @ts-ignore: decorator
@inline const SHIFTER_BITS: i32 = 0x4b400000; // its bit pattern
// @ts-ignore: decorator
@inline const C1: f32 = 0.693359375; // ln 2, high part (9 bits: n·C1 is exact for |n| < 2^15)
// @ts-ignore: decorator
@inline const C2: f32 = -2.12194440e-4; // ln 2 − C1

/** e^x on four float32 lanes. */
// @ts-ignore: decorator
@inline export function exp4(x0: v128): v128 {
  // Clamp with pmax/pmin (one instruction each on x64); NaN passes through both.
  let x = f32x4.pmax(x0, f32x4.splat(-104.0));
  x = f32x4.pmin(x, f32x4.splat(88.7));
  // n = round(x·log2 e) by the 1.5·2^23 shifter: n sits in the low mantissa bits of t.
  const t = madd(x, f32x4.splat(LOG2E), f32x4.splat(SHIFTER));
  const fx = f32x4.sub(t, f32x4.splat(SHIFTER));
  const n = i32x4.sub(t, i32x4.splat(SHIFTER_BITS));
  let r = madd(fx, f32x4.splat(-C1), x);
  r = madd(fx, f32x4.splat(-C2), r);
  // e^r = 1 + r·P(r), P of degree 5 (minimax for relative error on [−ln2/2, ln2/2], 2e-8).
  let p = f32x4.splat(1.3847302179783583e-3);
  p = madd(p, r, f32x4.splat(8.375050500035286e-3));
  p = madd(p, r, f32x4.splat(4.166798293590546e-2));
  p = madd(p, r, f32x4.splat(1.6666419804096222e-1));
  p = madd(p, r, f32x4.splat(4.999999403953552e-1));
  p = madd(p, r, f32x4.splat(1.0));
  p = madd(p, r, f32x4.splat(1.0));
  // Times 2^n: add n to the exponent field while the result stays normal (−125 <= n <= 128, as
  // p is in [0.7, 1.42]). Otherwise (x < −86.6, rare; or NaN, whose n is garbage) apply 2^n as
  // two exact factors, so that subnormal results are rounded once and NaN stays NaN.
  const outside = i32x4.gt_u(i32x4.add(n, i32x4.splat(125)), i32x4.splat(253));
  if (!v128.any_true(outside)) return i32x4.add(p, i32x4.shl(n, 23));
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/** e^x of one float32, by the same arithmetic (for scalar tails, so tails match the main loop). */
// @ts-ignore: decorator
@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/** dst[i] = e^src[i] for i < n (float32 arrays at byte addresses; exported for the accuracy test). */
export function expArray(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(dst + (<usize>i << 2), exp4(v128.load(src + (<usize>i << 2))));
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), exp1(load<f32>(src + (<usize>i << 2))));
}
