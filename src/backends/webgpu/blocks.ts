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
