// The matrix-multiply microkernels of the fused linear cross-entropy (AssemblyScript, SIMD128):
// float32 storage, float32x4 accumulators (madd: fused where relaxed SIMD is on). Two shapes
// cover the three products (addresses are byte offsets; strides are in elements; matmulAB's
// `pack` is the calling thread's LIN_PACK_BYTES of scratch):
//   matmulNT  C (m, n) (+)= A (m, k) · Bᵀ, B stored (n, k)     logits = hidden · weightᵀ
//   matmulAB  C (m, n) (+)= A (m, k) · B (k, n), A strided     dHidden = dL · weight
//                                                               dWeight += dLᵀ · hidden
// Every element of C is summed over p in increasing order (NT: four interleaved float32 lanes
// then their sum; AB: one float32 lane), whatever the block it falls in, so splitting m or n
// over threads never changes a result. Main loops over 4-aligned counts plus scalar tails.
import { LIN_PACK_BYTES, LIN_PACK_MIN_ROWS } from "./abi";
import { madd } from "./simd";

// @ts-ignore: decorator
@inline const AB_PANEL: i32 = 64; // matmulAB's columns per panel (a multiple of 8)
// @ts-ignore: decorator
@inline const AB_KC: i32 = LIN_PACK_BYTES / (AB_PANEL << 2); // matmulAB's rows of B per slice (256): a packed slice fills LIN_PACK_BYTES
// @ts-ignore: decorator
@inline const AB_PACK_MIN_K: i32 = 64; // matmulAB packs B from this many rows on

// @ts-ignore: decorator
@inline function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

// @ts-ignore: decorator
@inline function hsum4(x: v128): f32 {
  return (f32x4.extract_lane(x, 0) + f32x4.extract_lane(x, 1)) + (f32x4.extract_lane(x, 2) + f32x4.extract_lane(x, 3));
}

// @ts-ignore: decorator
@inline function put(c: usize, v: f32, accumulate: bool): void {
  store<f32>(c, accumulate ? load<f32>(c) + v : v);
}

/** Dot product of k float32 at a and b, in the lane order every NT block uses. */
function dot(a: usize, b: usize, k: i32): f32 {
  let s = f32x4.splat(0);
  let p = 0;
  for (; p + 4 <= k; p += 4) s = madd(v128.load(at(a, p)), v128.load(at(b, p)), s);
  let r = hsum4(s);
  for (; p < k; p++) r += load<f32>(at(a, p)) * load<f32>(at(b, p));
  return r;
}

/**
 * C (m, n) (+)= A (m, k) · Bᵀ with A rows at a + i·lda, B rows at b + j·ldb (both contiguous in k).
 * Blocks of 2 rows of A × 4 rows of B (8 accumulators); the 4 rows of B stay in cache while
 * every row pair of A passes over them.
 */
export function matmulNT(m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool): void {
  const k4 = k & ~3;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const b0 = at(b, j * ldb);
    const b1 = at(b0, ldb);
    const b2 = at(b1, ldb);
    const b3 = at(b2, ldb);
    let i = 0;
    for (; i + 2 <= m; i += 2) {
      const a0 = at(a, i * lda);
      const a1 = at(a0, lda);
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
      let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
      for (let p = 0; p < k4; p += 4) {
        const o = <usize>p << 2;
        const x0 = v128.load(a0 + o);
        const x1 = v128.load(a1 + o);
        let y = v128.load(b0 + o);
        s00 = madd(x0, y, s00);
        s10 = madd(x1, y, s10);
        y = v128.load(b1 + o);
        s01 = madd(x0, y, s01);
        s11 = madd(x1, y, s11);
        y = v128.load(b2 + o);
        s02 = madd(x0, y, s02);
        s12 = madd(x1, y, s12);
        y = v128.load(b3 + o);
        s03 = madd(x0, y, s03);
        s13 = madd(x1, y, s13);
      }
      let r00 = hsum4(s00), r01 = hsum4(s01), r02 = hsum4(s02), r03 = hsum4(s03);
      let r10 = hsum4(s10), r11 = hsum4(s11), r12 = hsum4(s12), r13 = hsum4(s13);
      for (let p = k4; p < k; p++) {
        const x0 = load<f32>(at(a0, p));
        const x1 = load<f32>(at(a1, p));
        const y0 = load<f32>(at(b0, p)), y1 = load<f32>(at(b1, p)), y2 = load<f32>(at(b2, p)), y3 = load<f32>(at(b3, p));
        r00 += x0 * y0; r01 += x0 * y1; r02 += x0 * y2; r03 += x0 * y3;
        r10 += x1 * y0; r11 += x1 * y1; r12 += x1 * y2; r13 += x1 * y3;
      }
      const c0 = at(c, i * ldc + j);
      const c1 = at(c0, ldc);
      put(c0, r00, accumulate); put(c0 + 4, r01, accumulate); put(c0 + 8, r02, accumulate); put(c0 + 12, r03, accumulate);
      put(c1, r10, accumulate); put(c1 + 4, r11, accumulate); put(c1 + 8, r12, accumulate); put(c1 + 12, r13, accumulate);
    }
    for (; i < m; i++) {
      const a0 = at(a, i * lda);
      const c0 = at(c, i * ldc + j);
      put(c0, dot(a0, b0, k), accumulate);
      put(c0 + 4, dot(a0, b1, k), accumulate);
      put(c0 + 8, dot(a0, b2, k), accumulate);
      put(c0 + 12, dot(a0, b3, k), accumulate);
    }
  }
  for (; j < n; j++) {
    const bj = at(b, j * ldb);
    for (let i = 0; i < m; i++) put(at(c, i * ldc + j), dot(at(a, i * lda), bj, k), accumulate);
  }
}

/**
 * C (m, n) (+)= A (m, k) · B (k, n) with A[i][p] at a + i·ars + p·acs (any strides, so A may be
 * read transposed), B and C row-major. Columns in panels of AB_PANEL and k in slices of AB_KC:
 * each (slice × panel) of B is first copied into `pack` (AB_KC·AB_PANEL float32, the calling
 * thread's; 0 for none) as contiguous 8-column tiles, so the microkernel streams it from cache whatever B's
 * stride (a power-of-two stride, as D = 2048, would map B's rows onto the same cache sets); then
 * blocks of 4 rows × 8 columns (two float32x4 per row): A's entries splatted, B's tile rows loaded
 * as vectors. Every element is summed over p in increasing order in one float32 lane (C holds it
 * between slices), so neither the panels nor the slices change a bit of the result.
 */
export function matmulAB(m: i32, n: i32, k: i32, a: usize, ars: i32, acs: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, pack: usize): void {
  if (pack == 0 || k < AB_PACK_MIN_K || m < LIN_PACK_MIN_ROWS) {
    // Few rows of B (C's traffic dominates) or of A (a packed slice would serve few of them), or
    // no buffer: C's rows are swept once, whole, reading B in place.
    matmulABSlice(m, 0, n, k, a, ars, acs, b, ldb, c, ldc, accumulate, 0);
    return;
  }
  for (let j0 = 0; j0 < n; j0 += AB_PANEL) {
    const j1 = min(n, j0 + AB_PANEL);
    for (let p0 = 0; p0 < k; p0 += AB_KC) {
      const kc = min(AB_KC, k - p0);
      matmulABSlice(m, j0, j1, kc, a + ((<usize>p0 * <usize>acs) << 2), ars, acs, b + ((<usize>p0 * <usize>ldb) << 2), ldb, c, ldc, accumulate || p0 > 0, pack);
    }
  }
}

/**
 * Columns [j0, j1) (j0 a multiple of 8) and k rows of B of matmulAB, the 8-column tiles of B read
 * from `pack` after copying them there, or in place when `pack` is 0.
 */
function matmulABSlice(m: i32, j0: i32, j1: i32, k: i32, a: usize, ars: i32, acs: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, pack: usize): void {
  const tiles = (j1 - j0) >> 3;
  const strideB = <usize>ldb << 2;
  const tileBytes: usize = pack != 0 ? <usize>k << 5 : 0; // k rows of 8 float32
  const rowBytes: usize = pack != 0 ? 32 : strideB;
  for (let t = 0; pack != 0 && t < tiles; t++) {
    let src = b + (<usize>(j0 + (t << 3)) << 2);
    let dst = pack + <usize>t * tileBytes;
    for (let p = 0; p < k; p++) {
      v128.store(dst, v128.load(src));
      v128.store(dst + 16, v128.load(src + 16));
      src += strideB;
      dst += 32;
    }
  }
  const jt = j0 + (tiles << 3); // columns from jt on are the panel's tail
  const strideA = <usize>acs << 2;
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const a0 = at(a, i * ars);
    const a1 = at(a0, ars);
    const a2 = at(a1, ars);
    const a3 = at(a2, ars);
    const c0 = at(c, i * ldc);
    const c1 = at(c0, ldc);
    const c2 = at(c1, ldc);
    const c3 = at(c2, ldc);
    for (let t = 0; t < tiles; t++) {
      const o = <usize>(j0 + (t << 3)) << 2;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s10 = f32x4.splat(0), s11 = f32x4.splat(0);
      let s20 = f32x4.splat(0), s21 = f32x4.splat(0), s30 = f32x4.splat(0), s31 = f32x4.splat(0);
      if (accumulate) {
        s00 = v128.load(c0 + o); s01 = v128.load(c0 + o + 16);
        s10 = v128.load(c1 + o); s11 = v128.load(c1 + o + 16);
        s20 = v128.load(c2 + o); s21 = v128.load(c2 + o + 16);
        s30 = v128.load(c3 + o); s31 = v128.load(c3 + o + 16);
      }
      let pb = pack != 0 ? pack + <usize>t * tileBytes : b + o;
      // Every address advances by a step rather than being rebuilt from base + offset (V8 spends
      // an instruction per load on that sum), and A's entries are splatted as they are loaded
      // (load32_splat: one instruction where a load then a splat took two). The same sums.
      if (ars == 1) {
        // A's four rows adjacent (A read transposed, as for gradWeight): one pointer, fixed offsets.
        let q = a0;
        for (let p = 0; p < k; p++) {
          const y0 = v128.load(pb);
          const y1 = v128.load(pb, 16);
          let x = v128.load32_splat(q);
          s00 = madd(x, y0, s00); s01 = madd(x, y1, s01);
          x = v128.load32_splat(q, 4);
          s10 = madd(x, y0, s10); s11 = madd(x, y1, s11);
          x = v128.load32_splat(q, 8);
          s20 = madd(x, y0, s20); s21 = madd(x, y1, s21);
          x = v128.load32_splat(q, 12);
          s30 = madd(x, y0, s30); s31 = madd(x, y1, s31);
          pb += rowBytes;
          q += strideA;
        }
      } else {
        let q0 = a0, q1 = a1, q2 = a2, q3 = a3;
        for (let p = 0; p < k; p++) {
          const y0 = v128.load(pb);
          const y1 = v128.load(pb, 16);
          let x = v128.load32_splat(q0);
          s00 = madd(x, y0, s00); s01 = madd(x, y1, s01);
          x = v128.load32_splat(q1);
          s10 = madd(x, y0, s10); s11 = madd(x, y1, s11);
          x = v128.load32_splat(q2);
          s20 = madd(x, y0, s20); s21 = madd(x, y1, s21);
          x = v128.load32_splat(q3);
          s30 = madd(x, y0, s30); s31 = madd(x, y1, s31);
          pb += rowBytes;
          q0 += strideA; q1 += strideA; q2 += strideA; q3 += strideA;
        }
      }
      v128.store(c0 + o, s00); v128.store(c0 + o + 16, s01);
      v128.store(c1 + o, s10); v128.store(c1 + o + 16, s11);
      v128.store(c2 + o, s20); v128.store(c2 + o + 16, s21);
      v128.store(c3 + o, s30); v128.store(c3 + o + 16, s31);
    }
    for (let j = jt; j < j1; j++) {
      columnTail(a0, acs, b, ldb, j, k, at(c0, j), accumulate);
      columnTail(a1, acs, b, ldb, j, k, at(c1, j), accumulate);
      columnTail(a2, acs, b, ldb, j, k, at(c2, j), accumulate);
      columnTail(a3, acs, b, ldb, j, k, at(c3, j), accumulate);
    }
  }
  for (; i < m; i++) {
    const a0 = at(a, i * ars);
    const c0 = at(c, i * ldc);
    let j = j0;
    for (; j + 4 <= j1; j += 4) {
      const o = <usize>j << 2;
      let s = accumulate ? v128.load(c0 + o) : f32x4.splat(0);
      for (let p = 0; p < k; p++) s = madd(f32x4.splat(load<f32>(at(a0, p * acs))), v128.load(at(b + o, p * ldb)), s);
      v128.store(c0 + o, s);
    }
    for (; j < j1; j++) columnTail(a0, acs, b, ldb, j, k, at(c0, j), accumulate);
  }
}

/** One element of an AB product, summed over p in order (the same order as the vector lanes). */
function columnTail(a0: usize, acs: i32, b: usize, ldb: i32, j: i32, k: i32, c: usize, accumulate: bool): void {
  let s: f32 = accumulate ? load<f32>(c) : 0;
  for (let p = 0; p < k; p++) s = fmaOrNot(load<f32>(at(a0, p * acs)), load<f32>(at(b, p * ldb + j)), s);
  store<f32>(c, s);
}

/** The scalar twin of madd on one lane, so tails round as the vector lanes do. */
// @ts-ignore: decorator
@inline function fmaOrNot(x: f32, y: f32, s: f32): f32 {
  return f32x4.extract_lane(madd(f32x4.splat(x), f32x4.splat(y), f32x4.splat(s)), 0);
}
