// Vectorised float32 exp for x <= 0 (AssemblyScript, SIMD128): the softmax's e^(c − max).
//
// exp(x) = 2^n · e^t with n = round(x·log2 e) and t = x − n·ln 2 in [−ln2/2, ln2/2] (two-constant
// Cody–Waite split of ln 2, so n·LN2_HI is exact); e^t = 1 + t·P(t), P a minimax polynomial.
// n is rounded by adding a "magic bias" 1.5·2^23 + 127: the sum's low mantissa bits hold n + 127,
// so shifting its bits left by 23 gives the float 2^n directly, and
//   e^x = s + (t·s)·P(t),  s = 2^n.
// The formulation is that of XNNPACK's wasmsimd "rr2_p5" softmax exp. P's degree depends on the
// build, so that the bound below holds in each:
// - relaxed SIMD (fused multiply-add, which the loader checks before it picks this build): P of
//   degree 4, rr2_p5's own coefficients, 11 vector operations. Worst error 1.981 ulp, found by
//   trying every float32 x in [−104, 0] (scripts/exp-exhaustive.ts);
// - plain SIMD (a multiply, then an add): P of degree 5, one more term, because the degree-4 P
//   reaches 2.26 ulp there; 1.356 ulp at worst, by the same exhaustive check.
// Since the softmax only needs x = c − max <= 0, there is no overflow check; below x = −87.34
// (results under 2^−126), including −Infinity, a slower exact path applies 2^n as two factors, so
// subnormal results are rounded once and −Infinity gives 0. NaN stays NaN. Accurate to <= 2 ulp
// over x <= 0, subnormal results included (a dense sweep against float64 Math.exp in
// test/backends/wasm/exp.test.ts). Positive x is outside the domain.
import { hsum2, madd, promoteHigh, promoteLow } from "./simd";

// The vector constants live in a 16-byte-aligned table in linear memory and are read with
// v128.load, never written as literal v128 constants (f32x4.splat of a constant). V8's Turboshaft
// pipeline (Node 24 and later) does not keep literal v128 constants in registers across a loop: it
// rebuilds each one at every use inside the loop (three instructions each; about 45 extra
// instructions per 4 elements in the exp-and-sum loop, which made the kernel 1.5–1.9× slower on
// Node 24/26 than on Node 22, whose TurboFan built them once before the loop). A load cannot be
// turned back into a constant: it costs one load per use at most, on every engine.
// Offsets (bytes) into K, each entry four equal float32 lanes:
// @ts-ignore: decorator
@inline const LOG2E: i32 = 0;
// @ts-ignore: decorator
@inline const MAGIC: i32 = 16; // 1.5·2^23 + 127
// @ts-ignore: decorator
@inline const MLN2_HI: i32 = 32; // −ln 2, high part (14 bits: n·LN2_HI is exact for |n| < 2^10)
// @ts-ignore: decorator
@inline const MLN2_LO: i32 = 48; // −(ln 2 − LN2_HI)
// @ts-ignore: decorator
@inline const C6: i32 = 64; // P of degree 5 (plain SIMD builds), minimax for the relative error of 1 + t·P(t) (2e-8)
// @ts-ignore: decorator
@inline const C5: i32 = 80;
// @ts-ignore: decorator
@inline const C4: i32 = 96;
// @ts-ignore: decorator
@inline const C3: i32 = 112;
// @ts-ignore: decorator
@inline const C2: i32 = 128;
// @ts-ignore: decorator
@inline const ONE: i32 = 144; // also P's constant term
// @ts-ignore: decorator
@inline const CUTOFF: i32 = 160; // −87.33654: below it e^x < 2^−126
// @ts-ignore: decorator
@inline const FLOOR: i32 = 176; // −104: below it e^x rounds to 0
// @ts-ignore: decorator
@inline const MAGIC_BITS: i32 = 192; // int32 lanes: the bit pattern of MAGIC
// @ts-ignore: decorator
@inline const BIAS: i32 = 208; // int32 lanes: 127
// @ts-ignore: decorator
@inline const D5: i32 = 224; // P of degree 4 (fused multiply-add builds): XNNPACK rr2_p5's c5..c1
// @ts-ignore: decorator
@inline const D4: i32 = 240;
// @ts-ignore: decorator
@inline const D3: i32 = 256;
// @ts-ignore: decorator
@inline const D2: i32 = 272;
// @ts-ignore: decorator
@inline const D1: i32 = 288;
const K: usize = memory.data<u32>([
  0x3fb8aa3b, 0x3fb8aa3b, 0x3fb8aa3b, 0x3fb8aa3b, // log2 e = 0x1.715476p+0
  0x4b40007f, 0x4b40007f, 0x4b40007f, 0x4b40007f, // 0x1.8000FEp23
  0xbf317200, 0xbf317200, 0xbf317200, 0xbf317200, // −0x1.62E400p−1
  0xb5bfbe8e, 0xb5bfbe8e, 0xb5bfbe8e, 0xb5bfbe8e, // −0x1.7F7D1Cp−20
  0x3ab57fd6, 0x3ab57fd6, 0x3ab57fd6, 0x3ab57fd6, // c6 = 1.3847302e-3
  0x3c093782, 0x3c093782, 0x3c093782, 0x3c093782, // c5 = 8.3750505e-3
  0x3d2aac0c, 0x3d2aac0c, 0x3d2aac0c, 0x3d2aac0c, // c4 = 4.1667983e-2
  0x3e2aaa05, 0x3e2aaa05, 0x3e2aaa05, 0x3e2aaa05, // c3 = 1.6666420e-1
  0x3efffffe, 0x3efffffe, 0x3efffffe, 0x3efffffe, // c2 = 4.9999994e-1
  0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000, // 1
  0xc2aeac4f, 0xc2aeac4f, 0xc2aeac4f, 0xc2aeac4f, // −0x1.5D589Ep6
  0xc2d00000, 0xc2d00000, 0xc2d00000, 0xc2d00000, // −104
  0x4b40007f, 0x4b40007f, 0x4b40007f, 0x4b40007f, // MAGIC's bits as int32
  127, 127, 127, 127,
  0x3c07cfce, 0x3c07cfce, 0x3c07cfce, 0x3c07cfce, // d5 = 0x1.0F9F9Cp-7
  0x3d2b9d0d, 0x3d2b9d0d, 0x3d2b9d0d, 0x3d2b9d0d, // d4 = 0x1.573A1Ap-5
  0x3e2aad40, 0x3e2aad40, 0x3e2aad40, 0x3e2aad40, // d3 = 0x1.555A80p-3
  0x3efffee3, 0x3efffee3, 0x3efffee3, 0x3efffee3, // d2 = 0x1.FFFDC6p-2
  0x3f7ffffb, 0x3f7ffffb, 0x3f7ffffb, 0x3f7ffffb, // d1 = 0x1.FFFFF6p-1
], 16);

/** One 16-byte entry of the constant table. */
// @ts-ignore: decorator
@inline function k(offset: i32): v128 {
  return v128.load(K + <usize>offset);
}

/** t = x − n·ln 2 for n (as a float) in `fn`. */
// @ts-ignore: decorator
@inline function reduce(x: v128, fn: v128): v128 {
  let t = madd(fn, k(MLN2_HI), x);
  return madd(fn, k(MLN2_LO), t);
}

// @ts-ignore: decorator
@inline function poly(t: v128): v128 { // P(t), e^t ≈ 1 + t·P(t)
  if (ASC_FEATURE_RELAXED_SIMD) {
    // Fused multiply-add: degree 4 stays within 2 ulp (1.981 at worst), and one step shorter.
    let p = madd(k(D5), t, k(D4));
    p = madd(p, t, k(D3));
    p = madd(p, t, k(D2));
    return madd(p, t, k(D1));
  }
  let p = madd(k(C6), t, k(C5));
  p = madd(p, t, k(C4));
  p = madd(p, t, k(C3));
  p = madd(p, t, k(C2));
  return madd(p, t, k(ONE));
}

/**
 * e^x on four float32 lanes where every lane is >= −87.34 (or NaN): the fast path, for loops that
 * check `expTooSmall4` over a block and redo the block with exp4 when any lane was below.
 */
// @ts-ignore: decorator
@inline export function expFast4(x: v128): v128 {
  let vn = madd(x, k(LOG2E), k(MAGIC));
  const s = i32x4.shl(vn, 23); // 2^n for n >= −126
  vn = f32x4.sub(vn, k(MAGIC));
  const t = reduce(x, vn);
  return madd(f32x4.mul(t, s), poly(t), s);
}

/** The lanes (all ones) where expFast4 is not valid: x < −87.34, −Infinity included. */
// @ts-ignore: decorator
@inline export function expTooSmall4(x: v128): v128 {
  return f32x4.lt(x, k(CUTOFF));
}

/**
 * True when expFast4 is valid for every x = c − m with c >= lo (lo the least c of a row or slice,
 * m its max): c − m rounds to >= lo − m in float32, so one test of the row's extremes lets a loop
 * run expFast4 with no test per vector. False for a NaN or infinite lo or m (−Infinity masks).
 */
// @ts-ignore: decorator
@inline export function fastRange(lo: f32, m: f32): bool {
  return lo - m >= f32x4.extract_lane(k(CUTOFF), 0);
}

/** e^x on four float32 lanes, x <= 0 (or NaN). */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  if (!v128.any_true(expTooSmall4(x))) return expFast4(x);
  return expTiny4(x);
}

/**
 * e^x where some lane is below −87.34 (subnormal results, 0, −Infinity): x is clamped at −104
 * (NaN passes pmax), and 2^n is applied as two exact normal factors 2^(n>>1)·2^(n − n>>1).
 */
// @ts-ignore: decorator
@inline function expTiny4(x0: v128): v128 {
  const x = f32x4.pmax(x0, k(FLOOR));
  let vn = madd(x, k(LOG2E), k(MAGIC));
  const n = i32x4.sub(vn, k(MAGIC_BITS));
  vn = f32x4.sub(vn, k(MAGIC));
  const t = reduce(x, vn);
  const q = madd(f32x4.mul(t, poly(t)), k(ONE), k(ONE)); // e^t
  const n1 = i32x4.shr_s(n, 1);
  const s1 = i32x4.shl(i32x4.add(n1, k(BIAS)), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(n, n1), k(BIAS)), 23);
  return f32x4.mul(f32x4.mul(q, s1), s2);
}

/** e^x of one float32, by the same arithmetic (for scalar tails, so tails match the main loop). */
// @ts-ignore: decorator
@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/** float32x4 vectors summed in float32 before a float64 add, in every exp-sum loop (the same bits). */
// @ts-ignore: decorator
@inline export const SUM_BLOCK: i32 = 16;

// @ts-ignore: decorator
@inline function at(p: usize, j: i32): usize {
  return p + (<usize>j << 2);
}

/**
 * Σ exp(c_j − m) over n float32 at p where every c_j − m is in expFast4's range (fastRange of the
 * least c and m); stores each exp at dst when dst != 0 (dst may be p). Each lane sums SUM_BLOCK
 * vectors in float32, then the block sums are added in float64. The same exps in the same order
 * as the checked loops (expSumChecked, and crossEntropy.ts expSum), so the same bits, without
 * their per-vector range test (and mask and select: four of the stored loop's ~36 instructions),
 * and two vectors per step (V8 checks for interrupts once per loop step).
 * `ahead` (0: none): with stores, the loop also reads one word of every 32 bytes there, as many
 * bytes as it reads at p. WebAssembly has no prefetch; these reads are one: the fused kernel
 * passes the next row of logits, so that its max pass finds the row in cache rather than waiting
 * on DRAM while this pass's arithmetic leaves the memory idle (forward+backward 1.03–1.07× at
 * 2048×50257 and 1.08–1.11× at 1024×128256, one thread, Node 22–26; the same bits). The next
 * row's gradient as well was 0.87–0.93× at 2048×50257, and reads ahead without stores gave the
 * forward nothing (its chunks are read once, in order, as the hardware prefetcher expects).
 */
export function expSumFast(p: usize, n: i32, m: f32, dst: usize, ahead: usize = 0): f64 {
  return expSumLoop(p, n, m, dst, true, ahead != 0 ? ahead : p);
}

/** Where the stored loop leaves the OR of the words it read ahead, so that the reads are kept. */
const AHEAD_SINK: usize = memory.data(16, 16);

/**
 * The same sum by exp4 (a range test per vector): for any c_j − m <= 0, −Infinity included. Not
 * the fused kernel's block-checked loop (crossEntropy.ts expSum): that one keeps the fast exps of
 * a block's in-range lanes when it stores them, where exp4 takes a vector with any lane below the
 * range through its exact path whole, so stored and unstored sums would differ in the last bits.
 * This loop gives the slice statistics the same bits whether or not rowStats stores the exps.
 */
export function expSumChecked(p: usize, n: i32, m: f32, dst: usize): f64 {
  return expSumLoop(p, n, m, dst, false, p);
}

/** The two loops above; `fast` is a constant in each inlined copy. */
// @ts-ignore: decorator
@inline function expSumLoop(p: usize, n: i32, m: f32, dst: usize, fast: bool, ahead: usize): f64 {
  const m4 = f32x4.splat(m);
  let touch: i32 = 0;
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let j = 0;
  while (j + 4 <= n) {
    const end = min(n & ~3, j + (SUM_BLOCK << 2));
    let b = f32x4.splat(0);
    if (!fast) {
      if (dst != 0) {
        for (; j < end; j += 4) {
          const e = exp4(f32x4.sub(v128.load(at(p, j)), m4));
          v128.store(at(dst, j), e);
          b = f32x4.add(b, e);
        }
      } else {
        for (; j < end; j += 4) b = f32x4.add(b, exp4(f32x4.sub(v128.load(at(p, j)), m4)));
      }
    } else if (dst != 0) {
      for (; j + 8 <= end; j += 8) {
        touch |= load<i32>(at(ahead, j));
        const e0 = expFast4(f32x4.sub(v128.load(at(p, j)), m4));
        const e1 = expFast4(f32x4.sub(v128.load(at(p, j), 16), m4));
        v128.store(at(dst, j), e0);
        v128.store(at(dst, j), e1, 16);
        b = f32x4.add(f32x4.add(b, e0), e1);
      }
      if (j < end) {
        const e = expFast4(f32x4.sub(v128.load(at(p, j)), m4));
        v128.store(at(dst, j), e);
        b = f32x4.add(b, e);
        j += 4;
      }
    } else {
      // Four vectors a step without stores (the forward 1.02–1.06× faster than with two by minima on
      // Node 22–26, 1.16× on Node 20); with stores four were 0.96–0.98× (fwd+bwd), so that loop
      // keeps two.
      for (; j + 16 <= end; j += 16) {
        const e0 = expFast4(f32x4.sub(v128.load(at(p, j)), m4));
        const e1 = expFast4(f32x4.sub(v128.load(at(p, j), 16), m4));
        const e2 = expFast4(f32x4.sub(v128.load(at(p, j), 32), m4));
        const e3 = expFast4(f32x4.sub(v128.load(at(p, j), 48), m4));
        b = f32x4.add(f32x4.add(f32x4.add(f32x4.add(b, e0), e1), e2), e3);
      }
      for (; j < end; j += 4) b = f32x4.add(b, expFast4(f32x4.sub(v128.load(at(p, j)), m4)));
    }
    s0 = f64x2.add(s0, promoteLow(b));
    s1 = f64x2.add(s1, promoteHigh(b));
  }
  // Never in practice (the words' OR is all ones but the sign), and the reads must have a use.
  if (touch == 0x7fffffff) store<i32>(AHEAD_SINK, touch);
  return expSumTail(p, j, n, m, dst, hsum2(f64x2.add(s0, s1)));
}

/**
 * The scalar tail of the exp-sum loops: s + Σ exp(p[j] − m) over j in [j0, n) by exp1 (the same
 * arithmetic as a vector lane), each exp stored at dst when dst != 0.
 */
// @ts-ignore: decorator
@inline export function expSumTail(p: usize, j0: i32, n: i32, m: f32, dst: usize, s: f64): f64 {
  for (let j = j0; j < n; j++) {
    const e = exp1(load<f32>(at(p, j)) - m);
    if (dst != 0) store<f32>(at(dst, j), e);
    s += <f64>e;
  }
  return s;
}

/** dst[i] = e^src[i] for i < n (float32 arrays at byte addresses; exported for the accuracy test). */
export function expArray(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(dst + (<usize>i << 2), exp4(v128.load(src + (<usize>i << 2))));
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), exp1(load<f32>(src + (<usize>i << 2))));
}
