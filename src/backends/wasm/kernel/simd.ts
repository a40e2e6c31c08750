// Small SIMD helpers shared by the kernels (AssemblyScript).
// `madd` is a fused multiply-add where the build enables relaxed SIMD (the runtime chooses
// fused or not, consistently within one engine), and a plain multiply then add elsewhere.

/** a·b + c on four float32 lanes. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Lanes of a where mask is all ones, of b where it is all zeros (mask lanes are all ones or zeros). */
@inline export function select(a: v128, b: v128, mask: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_laneselect(a, b, mask);
  return v128.bitselect(a, b, mask);
}

/** The upper two float32 lanes of `x` widened to float64. */
@inline export function promoteHigh(x: v128): v128 {
  return f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 0, 1));
}

/** The lower two float32 lanes of `x` widened to float64. */
@inline export function promoteLow(x: v128): v128 {
  return f64x2.promote_low_f32x4(x);
}

/** Two float64x2 narrowed back to one float32x4 (lo lanes 0-1, hi lanes 2-3). */
@inline export function demote2(lo: v128, hi: v128): v128 {
  const a = f32x4.demote_f64x2_zero(lo);
  const b = f32x4.demote_f64x2_zero(hi);
  return i32x4.shuffle(a, b, 0, 1, 4, 5);
}

/** Sum of the two float64 lanes. */
@inline export function hsum2(x: v128): f64 {
  return f64x2.extract_lane(x, 0) + f64x2.extract_lane(x, 1);
}

/** Max of the four float32 lanes (NaN-propagating, as f32.max). */
@inline export function hmax4(x: v128): f32 {
  return max<f32>(max<f32>(f32x4.extract_lane(x, 0), f32x4.extract_lane(x, 1)), max<f32>(f32x4.extract_lane(x, 2), f32x4.extract_lane(x, 3)));
}

/**
 * True when one of n float32 at p is NaN. f32x4.pmax skips NaN, so the kernels ask this (rarely)
 * of a row or slice whose max came out ±Infinity.
 */
export function hasNaN(p: usize, n: i32): bool {
  for (let j = 0; j < n; j++) if (isNaN(load<f32>(p + (<usize>j << 2)))) return true;
  return false;
}
