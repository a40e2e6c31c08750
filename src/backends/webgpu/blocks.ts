/// <reference types="@webgpu/types" />
/**
 * Row blocks: a (N, V) array larger than one storage binding is processed a block of whole rows
 * at a time. A block's bytes must fit `maxStorageBufferBindingSize` (and `maxBufferSize`), its
 * row count the dispatch limit (one workgroup per row), and, where blocks are bound at offsets
 * inside one larger buffer, each block's byte offset must be a multiple of
 * `minStorageBufferOffsetAlignment`.
 */

export interface BlockLimits {
  /** Largest bytes one storage binding (and one buffer) may hold. */
  maxBindingBytes: number;
  /** Required alignment of a binding's byte offset. */
  offsetAlignment: number;
  /** Largest workgroup count of one dispatch dimension. */
  maxWorkgroups: number;
}

export interface BlockPlan {
  /** Rows per block (the last block may hold fewer). */
  rowsPerBlock: number;
  /** Blocks covering the N rows. */
  blocks: number;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Plan blocks of rows of `rowBytes` bytes each. With `aligned` (blocks bound at offsets of one
 * buffer whose start is aligned), rowsPerBlock·rowBytes is a multiple of the alignment, unless
 * one block holds every row. Throws a RangeError when not even one row (or one aligned group of
 * rows) fits a binding.
 */
export function planRowBlocks(n: number, rowBytes: number, limits: BlockLimits, aligned: boolean): BlockPlan {
  const { maxBindingBytes, offsetAlignment, maxWorkgroups } = limits;
  const fit = Math.min(Math.floor(maxBindingBytes / rowBytes), maxWorkgroups);
  if (fit >= n) return { rowsPerBlock: n, blocks: 1 };
  // rows in one block must be a multiple of `step` for the next block's offset to be aligned
  const step = aligned ? offsetAlignment / gcd(rowBytes, offsetAlignment) : 1;
  const rows = Math.floor(fit / step) * step;
  if (rows < 1) {
    throw new RangeError(
      `webgpu backend: a row of ${rowBytes} bytes${step > 1 ? ` (in groups of ${step} rows for ${offsetAlignment}-byte aligned offsets)` : ""} does not fit one storage binding of at most ${maxBindingBytes} bytes`,
    );
  }
  return { rowsPerBlock: rows, blocks: Math.ceil(n / rows) };
}

/** A binding of part of a buffer: the resource, and where the part starts in it, in elements. */
export interface BoundAt {
  readonly resource: GPUBufferBinding;
  readonly base: number;
}

/**
 * A binding of `bytes` bytes from byte `at` of `buffer`, bound at the largest offset at or below
 * `at` that is a multiple of `alignment` (minStorageBufferOffsetAlignment); `base` is `at`'s
 * distance from there in units of `unit` bytes, for the kernel's uniforms. The binding holds up
 * to `alignment` − 4 bytes more than asked (callers plan their blocks with that slack).
 */
export function bindAt(alignment: number, buffer: GPUBuffer, at: number, bytes: number, unit: number): BoundAt {
  const start = at - (at % alignment);
  return { resource: { buffer, offset: start, size: Math.ceil((at + bytes) / 4) * 4 - start }, base: (at - start) / unit };
}
