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

/** Min of the four float32 lanes (NaN-propagating, as f32.min). */
@inline export function hmin4(x: v128): f32 {
  return min<f32>(min<f32>(f32x4.extract_lane(x, 0), f32x4.extract_lane(x, 1)), min<f32>(f32x4.extract_lane(x, 2), f32x4.extract_lane(x, 3)));
}

/** The least element seen by the last rowMax (+Infinity for none; NaN skipped as by pmax). */
export let gRowMin: f32 = Infinity;

/**
 * Max of n float32 at p (−Infinity for none), and their least value into gRowMin (for exp's
 * fastRange). f32x4.pmax and pmin skip NaN (pmax(a, NaN) = a), so a NaN in the vector lanes is not
 * seen here: the kernels' sums become NaN, or they ask hasNaN when the max came out ±Infinity.
 * Four independent accumulators each: with one, each step waits for the previous max (a 2–3 cycle
 * dependency, which V8 does not break when it unrolls), and the pass ran at that latency, half a
 * cycle per element; with four it runs at about the speed of the loads.
 */
export function rowMax(p: usize, n: i32): f32 {
  return maxLoop(p, n, 0, f32x4.splat(0), false);
}

/**
 * p[j] = k·p[j] (float32 lanes, k4 = f32x4.splat(k)) for j < n & ~3, four vectors per step (V8
 * neither unrolls this loop nor hoists its interrupt check); returns n & ~3, where the caller's
 * scalar tail starts.
 */
export function scaleVectors(p: usize, n: i32, k4: v128): i32 {
  let j = 0;
  for (; j + 16 <= n; j += 16) scale16(p + (<usize>j << 2), k4);
  for (; j + 4 <= n; j += 4) scale4(p + (<usize>j << 2), k4);
  return j;
}

/** The 16 float32 at q times k4, in place (four loads, then four stores). */
// @ts-ignore: decorator
@inline function scale16(q: usize, k4: v128): void {
  const a = v128.load(q);
  const b = v128.load(q, 16);
  const c = v128.load(q, 32);
  const d = v128.load(q, 48);
  v128.store(q, f32x4.mul(k4, a));
  v128.store(q, f32x4.mul(k4, b), 16);
  v128.store(q, f32x4.mul(k4, c), 32);
  v128.store(q, f32x4.mul(k4, d), 48);
}

/** The 4 float32 at q times k4, in place. */
// @ts-ignore: decorator
@inline function scale4(q: usize, k4: v128): void {
  v128.store(q, f32x4.mul(k4, v128.load(q)));
}

/**
 * scaleVectors(g, n, k4) and rowMax(x, n) in one loop (g and x must not overlap): the fused
 * kernel scales one row's gradient while it takes the next row's max and least value. The max
 * pass reads, the scaling reads and writes, so the two together keep the load and store ports
 * busier than either alone. The same loop as rowMax, so the same max and least value (into
 * gRowMin); the scaling stops at n & ~3, as scaleVectors does.
 */
export function scaleVectorsRowMax(g: usize, n: i32, k4: v128, x: usize): f32 {
  return maxLoop(x, n, g, k4, true);
}

/** rowMax's loop; with `scale` (a constant in each inlined copy) it also scales g by k4 on the way. */
// @ts-ignore: decorator
@inline function maxLoop(p: usize, n: i32, g: usize, k4: v128, scale: bool): f32 {
  let m0 = f32x4.splat(-Infinity);
  let m1 = m0;
  let m2 = m0;
  let m3 = m0;
  let l0 = f32x4.splat(Infinity);
  let l1 = l0;
  let j = 0;
  for (; j + 16 <= n; j += 16) {
    const q = p + (<usize>j << 2);
    const x0 = v128.load(q);
    const x1 = v128.load(q, 16);
    const x2 = v128.load(q, 32);
    const x3 = v128.load(q, 48);
    if (scale) scale16(g + (<usize>j << 2), k4);
    m0 = f32x4.pmax(m0, x0);
    m1 = f32x4.pmax(m1, x1);
    m2 = f32x4.pmax(m2, x2);
    m3 = f32x4.pmax(m3, x3);
    l0 = f32x4.pmin(l0, f32x4.pmin(x0, x1));
    l1 = f32x4.pmin(l1, f32x4.pmin(x2, x3));
  }
  for (; j + 4 <= n; j += 4) {
    const x = v128.load(p + (<usize>j << 2));
    if (scale) scale4(g + (<usize>j << 2), k4);
    m0 = f32x4.pmax(m0, x);
    l0 = f32x4.pmin(l0, x);
  }
  let m = hmax4(f32x4.pmax(f32x4.pmax(m0, m1), f32x4.pmax(m2, m3)));
  let lo = hmin4(f32x4.pmin(l0, l1));
  for (; j < n; j++) {
    const x = load<f32>(p + (<usize>j << 2));
    m = max<f32>(m, x);
    lo = min<f32>(lo, x);
  }
  gRowMin = lo;
  return m;
}

/**
 * True when one of n float32 at p is NaN. f32x4.pmax skips NaN, so the kernels ask this (rarely)
 * of a row or slice whose max came out ±Infinity.
 */
export function hasNaN(p: usize, n: i32): bool {
  for (let j = 0; j < n; j++) if (isNaN(load<f32>(p + (<usize>j << 2)))) return true;
  return false;
}
