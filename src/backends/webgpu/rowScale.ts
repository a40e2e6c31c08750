/// <reference types="@webgpu/types" />
/**
 * Host of rowScale.wgsl: each row of a (rows, cols) block multiplied by its own factor (the linear
 * head's dL/dlogits by the upstream gradient of each per-token loss, under reduction "none").
 */
import type { KernelVariant } from "./shader.js";
import { rowScale as SOURCE } from "./wgsl.gen.js";

/** Bytes of the kernel's uniform block. */
export const ROW_SCALE_PARAMS_BYTES = 16;
/** Columns per workgroup (the dispatch is (⌈cols/256⌉, rows)). */
export const ROW_SCALE_WG = 256;

export const ROW_SCALE_KERNEL: KernelVariant = { label: "rowScale", source: SOURCE, defines: [] };

/** The uniform block, written into `out` at byte offset `at`: `sBase` is the block's first row in the factors' binding. */
export function writeRowScaleParams(out: ArrayBuffer, at: number, rows: number, cols: number, sBase: number): void {
  new Uint32Array(out, at, 4).set([rows, cols, sBase, 0]);
}
