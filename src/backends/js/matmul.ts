/**
 * A cache-blocked matrix multiply for the js backend, with arbitrary strides so that one
 * routine serves the three products of the fused linear cross-entropy:
 *
 *   logits (R, V)  = hidden (R, D) · weightᵀ          A row-major, B read through its transpose
 *   dHidden (R, D) = dLogits (R, V) · weight (V, D)   plain A·B
 *   dWeight (V, D) += dLogitsᵀ (V, R) · hidden (R, D) A read through its transpose
 *
 * C[i][j] (+)= Σ_p A[i][p]·B[p][j] with
 *   A[i][p] = a[a.off + i·a.rs + p·a.cs],  B[p][j] = b[b.off + p·b.rs + j·b.cs],
 *   C[i][j] = c[c.off + i·c.rs + j].
 *
 * The microkernel keeps a 4×4 block of C in 16 float64 locals and runs the whole inner
 * dimension for it (so every element of C is one float64 dot product, rounded once when stored);
 * the loop over i sits inside the loop over j so that the 4 columns of B in use (4 rows of
 * weight, in the logits product) stay in L1 while every row block of A passes over them.
 * Edges (m, n not multiples of 4) go through the same loop with 1..4 live rows and columns.
 * The result does not depend on how a caller splits m or n, only on the order of p (fixed).
 */
import type { FloatArray } from "../types.js";

/** A strided view of a matrix inside a flat array. */
export interface MatView {
  readonly data: FloatArray;
  /** Index of element (0, 0). */
  readonly off: number;
  /** Distance between consecutive rows. */
  readonly rs: number;
  /** Distance between consecutive columns. */
  readonly cs: number;
}

/** Where C goes: row-major with row stride `rs`; `data` may be float32 or float64. */
export interface MatOut {
  readonly data: FloatArray;
  readonly off: number;
  readonly rs: number;
}

/**
 * C (m, n) = A (m, k) · B (k, n), or C += A·B when `accumulate`. Shapes in comments: (m, n, k).
 */
export function matmul(m: number, n: number, k: number, a: MatView, b: MatView, c: MatOut, accumulate: boolean): void {
  const ad = a.data;
  const bd = b.data;
  const cd = c.data;
  const ars = a.rs;
  const acs = a.cs;
  const brs = b.rs;
  const bcs = b.cs;
  const crs = c.rs;
  for (let j = 0; j < n; j += 4) {
    const nj = Math.min(4, n - j);
    if (nj < 4) {
      edge(j, nj, m, k, a, b, c, accumulate);
      continue;
    }
    const b0 = b.off + j * bcs;
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      let pa0 = a.off + i * ars;
      let pa1 = pa0 + ars;
      let pa2 = pa1 + ars;
      let pa3 = pa2 + ars;
      let pb0 = b0;
      let pb1 = b0 + bcs;
      let pb2 = pb1 + bcs;
      let pb3 = pb2 + bcs;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = bd[pb0]!, x1 = bd[pb1]!, x2 = bd[pb2]!, x3 = bd[pb3]!;
        let y = ad[pa0]!;
        c00 += y * x0; c01 += y * x1; c02 += y * x2; c03 += y * x3;
        y = ad[pa1]!;
        c10 += y * x0; c11 += y * x1; c12 += y * x2; c13 += y * x3;
        y = ad[pa2]!;
        c20 += y * x0; c21 += y * x1; c22 += y * x2; c23 += y * x3;
        y = ad[pa3]!;
        c30 += y * x0; c31 += y * x1; c32 += y * x2; c33 += y * x3;
        pa0 += acs; pa1 += acs; pa2 += acs; pa3 += acs;
        pb0 += brs; pb1 += brs; pb2 += brs; pb3 += brs;
      }
      let q = c.off + i * crs + j;
      if (accumulate) {
        cd[q] = cd[q]! + c00; cd[q + 1] = cd[q + 1]! + c01; cd[q + 2] = cd[q + 2]! + c02; cd[q + 3] = cd[q + 3]! + c03;
        q += crs;
        cd[q] = cd[q]! + c10; cd[q + 1] = cd[q + 1]! + c11; cd[q + 2] = cd[q + 2]! + c12; cd[q + 3] = cd[q + 3]! + c13;
        q += crs;
        cd[q] = cd[q]! + c20; cd[q + 1] = cd[q + 1]! + c21; cd[q + 2] = cd[q + 2]! + c22; cd[q + 3] = cd[q + 3]! + c23;
        q += crs;
        cd[q] = cd[q]! + c30; cd[q + 1] = cd[q + 1]! + c31; cd[q + 2] = cd[q + 2]! + c32; cd[q + 3] = cd[q + 3]! + c33;
      } else {
        cd[q] = c00; cd[q + 1] = c01; cd[q + 2] = c02; cd[q + 3] = c03;
        q += crs;
        cd[q] = c10; cd[q + 1] = c11; cd[q + 2] = c12; cd[q + 3] = c13;
        q += crs;
        cd[q] = c20; cd[q + 1] = c21; cd[q + 2] = c22; cd[q + 3] = c23;
        q += crs;
        cd[q] = c30; cd[q + 1] = c31; cd[q + 2] = c32; cd[q + 3] = c33;
      }
    }
    // Row tail (m mod 4 rows), four columns at a time.
    for (; i < m; i++) {
      let pa = a.off + i * ars;
      let pb0 = b0;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let p = 0; p < k; p++) {
        const y = ad[pa]!;
        c0 += y * bd[pb0]!;
        c1 += y * bd[pb0 + bcs]!;
        c2 += y * bd[pb0 + 2 * bcs]!;
        c3 += y * bd[pb0 + 3 * bcs]!;
        pa += acs;
        pb0 += brs;
      }
      const q = c.off + i * crs + j;
      if (accumulate) {
        cd[q] = cd[q]! + c0; cd[q + 1] = cd[q + 1]! + c1; cd[q + 2] = cd[q + 2]! + c2; cd[q + 3] = cd[q + 3]! + c3;
      } else {
        cd[q] = c0; cd[q + 1] = c1; cd[q + 2] = c2; cd[q + 3] = c3;
      }
    }
  }
}

/** Column tail: the last n mod 4 columns, one dot product per element. */
function edge(j0: number, nj: number, m: number, k: number, a: MatView, b: MatView, c: MatOut, accumulate: boolean): void {
  const ad = a.data;
  const bd = b.data;
  const cd = c.data;
  for (let i = 0; i < m; i++) {
    for (let j = j0; j < j0 + nj; j++) {
      let pa = a.off + i * a.rs;
      let pb = b.off + j * b.cs;
      let s = 0;
      for (let p = 0; p < k; p++) {
        s += ad[pa]! * bd[pb]!;
        pa += a.cs;
        pb += b.rs;
      }
      const q = c.off + i * c.rs + j;
      cd[q] = accumulate ? cd[q]! + s : s;
    }
  }
}
