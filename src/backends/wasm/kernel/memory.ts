// The engine's allocator: every buffer the host uses in wasm memory comes from here, never from a
// hard-coded offset (static data sits in low memory and its size changes with the build).
// Only the instance on the host's main thread allocates; worker instances only run kernels.

/** Allocate `bytes` bytes (16-byte aligned); traps when memory cannot grow. */
export function alloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** Free a block returned by alloc. */
export function free(ptr: usize): void {
  heap.free(ptr);
}
