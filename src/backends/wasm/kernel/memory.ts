// The engine's allocator: every buffer the host uses in wasm memory comes from here, never from a
// hard-coded offset (static data sits in low memory and its size changes with the build).
// Only the instance on the host's main thread allocates; worker instances only run kernels.
//
// Blocks below LARGE bytes come from the runtime's TLSF heap, whose largest block is just under
// 1 GiB. Larger ones (up to the host's limit of 1 GiB) are whole pages grown at the top of memory,
// recorded in a small table; a freed one is kept there and reused by the next large request it fits.

// @ts-ignore: decorator
@inline const LARGE: usize = 1 << 29; // 512 MiB
// @ts-ignore: decorator
@inline const SLOTS: i32 = 8; // 8 × 512 MiB fills the 4 GiB address space
// One entry per large region: start (u32), pages (u32), live (u32).
const table: usize = memory.data(SLOTS * 12, 4);

/** Allocate `bytes` bytes (16-byte aligned); traps when memory cannot grow. */
export function alloc(bytes: usize): usize {
  if (bytes < LARGE) return heap.alloc(bytes);
  const pages = <u32>((<u64>bytes + 0xffff) >>> 16);
  for (let k = 0; k < SLOTS; k++) {
    const e = table + <usize>k * 12;
    if (load<u32>(e) != 0 && load<u32>(e, 8) == 0 && load<u32>(e, 4) >= pages) {
      store<u32>(e, 1, 8);
      return <usize>load<u32>(e);
    }
  }
  for (let k = 0; k < SLOTS; k++) {
    const e = table + <usize>k * 12;
    if (load<u32>(e) != 0) continue;
    const before = memory.grow(<i32>pages);
    if (before < 0) unreachable();
    store<u32>(e, <u32>before << 16);
    store<u32>(e, pages, 4);
    store<u32>(e, 1, 8);
    return <usize>(<u32>before << 16);
  }
  unreachable();
  return 0;
}

/** Free a block returned by alloc. */
export function free(ptr: usize): void {
  for (let k = 0; k < SLOTS; k++) {
    const e = table + <usize>k * 12;
    if (<usize>load<u32>(e) == ptr && load<u32>(e, 8) != 0) {
      store<u32>(e, 0, 8);
      return;
    }
  }
  heap.free(ptr);
}
