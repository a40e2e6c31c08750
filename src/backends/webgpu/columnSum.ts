/// <reference types="@webgpu/types" />
/**
 * Host of columnSum.wgsl: out (cols) += the column sums of a (rows, cols) block with leading
 * dimension ld, one invocation per column summing its rows in order (the linear head's bias
 * gradient, chunk after chunk, and the sum of a split product's slices).
 */
import type { KernelVariant } from "./shader.js";
import { columnSum as SOURCE } from "./wgsl.gen.js";

/** Bytes of the kernel's uniform block. */
export const COLUMN_SUM_PARAMS_BYTES = 16;
/** Columns per workgroup. */
export const COLUMN_SUM_WG = 256;

export const COLUMN_SUM_KERNEL: KernelVariant = { label: "columnSum", source: SOURCE, defines: [] };

/** The uniform block, written into `out` at byte offset `at`. */
export function writeColumnSumParams(out: ArrayBuffer, at: number, rows: number, cols: number, ld: number): void {
  new Uint32Array(out, at, 4).set([rows, cols, ld, 0]);
}
