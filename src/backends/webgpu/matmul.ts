/// <reference types="@webgpu/types" />
/**
 * Host of the tiled matrix product (matmul.wgsl): C (M, N) = alpha·(A (M, K) · B (K, N) + bias),
 * or C += alpha·A·B, on strided views of storage buffers. The fused linear head runs its three
 * products with it. Shapes, offsets and leading dimensions are uniforms; the pipeline variant
 * is chosen by what changes the code: which operands are transposed, and which are read or
 * written as vec4.
 */
import type { KernelVariant } from "./shader.js";
import { matmul as SOURCE } from "./wgsl.gen.js";

/** Bytes of the kernel's uniform block (Params in matmul.wgsl). */
export const MATMUL_PARAMS_BYTES = 64;
/** Output tile edge: one workgroup per 64×64 tile of C. */
export const MATMUL_TILE = 64;

/** A strided matrix view: element (r, c) at `off + r·ld + c`, or at `off + c·ld + r` when transposed. */
export interface MatrixView {
  off: number;
  ld: number;
}

/** One product C (m, n) = alpha·(A (m, k) · B (k, n) + bias[biasOff + n]) [+ C]. */
export interface MatmulShape {
  m: number;
  n: number;
  k: number;
  a: MatrixView & { transposed: boolean };
  b: MatrixView & { transposed: boolean };
  c: MatrixView;
  alpha: number;
  /** Add bias[biasOff + j] to column j before alpha, or null for none. */
  biasOff: number | null;
  accumulate: boolean;
  /**
   * Split K over `slices` workgroup layers of `k` each (a multiple of 16): slice z writes its
   * partial product to its own copy of C, `cStride` elements after slice z-1's (the host sums
   * them). Absent: one slice.
   */
  split?: { slices: number; k: number; cStride: number };
}

/** True when a dimension read as vec4 (extent, leading dimension and offset) lies on whole vec4s. */
const by4 = (...xs: number[]): boolean => xs.every((x) => x % 4 === 0);

/** The `//#if` defines of a product: transposes, and vec4 access where every index allows it. */
export function matmulDefines(s: MatmulShape): string[] {
  const defs: string[] = [];
  if (s.a.transposed) defs.push("A_T");
  if (s.b.transposed) defs.push("B_T");
  // A's contiguous dimension is m when transposed, else k; B's is k when transposed, else n.
  if (by4(s.a.transposed ? s.m : s.k, s.a.ld, s.a.off)) defs.push("A_VEC4");
  if (by4(s.b.transposed ? s.k : s.n, s.b.ld, s.b.off)) defs.push("B_VEC4");
  if (by4(s.n, s.c.ld, s.c.off)) defs.push("C_VEC4");
  return defs;
}

export function matmulKernel(s: MatmulShape): KernelVariant {
  return { label: "matmul", source: SOURCE, defines: matmulDefines(s) };
}

/** The uniform block of a product, written into `out` at byte offset `at`. */
export function writeMatmulParams(out: ArrayBuffer, at: number, s: MatmulShape): void {
  const u = new Uint32Array(out, at, MATMUL_PARAMS_BYTES / 4);
  const f = new Float32Array(out, at, MATMUL_PARAMS_BYTES / 4);
  u.set([s.m, s.n, s.k, (s.biasOff !== null ? 1 : 0) | (s.accumulate ? 2 : 0), s.a.off, s.a.ld, s.b.off, s.b.ld, s.c.off, s.c.ld, s.biasOff ?? 0]);
  f[11] = s.alpha;
  u.set([s.split?.k ?? s.k, s.split?.cStride ?? 0, 0, 0], 12);
}

/** Workgroups of a product: (⌈n/64⌉, ⌈m/64⌉, slices of K). */
export function matmulGrid(s: MatmulShape): [number, number, number] {
  return [Math.ceil(s.n / MATMUL_TILE), Math.ceil(s.m / MATMUL_TILE), s.split?.slices ?? 1];
}
