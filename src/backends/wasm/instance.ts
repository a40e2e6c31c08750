/**
 * One instantiated kernel module and its memory, with the allocator the module exports.
 * All host buffers in wasm memory come from `alloc` (never hard-coded offsets). Views are made
 * fresh from `memory.buffer` after any allocation, because growing memory replaces the buffer.
 */
import { MAX_BLOCK_ELEMENTS } from "../common.js";
import { compileModule, MAX_PAGES, SHARED_INITIAL_PAGES, type MemoryKind } from "./loader.js";

/** The largest block `alloc` serves: 1 GiB (kernel/memory.ts serves blocks beyond its heap's limit from whole pages). */
const MAX_BLOCK_BYTES = MAX_BLOCK_ELEMENTS * 4;

/** The kernel module's exports (addresses are byte offsets into its memory). */
export interface KernelExports {
  alloc(bytes: number): number;
  free(ptr: number): void;
  expArray(src: number, dst: number, n: number): void;
  /** Rows [row0, row1) of the call whose parameter struct (abi.ts) lies at `params`. */
  crossEntropyRows(params: number, row0: number, row1: number, scratch: number): void;
  matmulNT(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, accumulate: boolean): void;
  matmulAB(m: number, n: number, k: number, a: number, ars: number, acs: number, b: number, ldb: number, c: number, ldc: number, accumulate: boolean): void;
  linearLogits(params: number, item0: number, item1: number): void;
  linearGrad(params: number, item0: number, item1: number, scratch: number): void;
  /** Vocabulary slices [item0, item1) of the call whose struct (abi.ts: SL_*) lies at `params`. */
  rowStats(params: number, item0: number, item1: number, scratch: number): void;
  sliceBackward(params: number, item0: number, item1: number, scratch: number): void;
  distillationRows(params: number, row0: number, row1: number, scratch: number): void;
}

/** Every function of KernelExports, checked on the instance instead of asserted. */
const KERNEL_FUNCTIONS = [
  "alloc",
  "free",
  "expArray",
  "crossEntropyRows",
  "matmulNT",
  "matmulAB",
  "linearLogits",
  "linearGrad",
  "rowStats",
  "sliceBackward",
  "distillationRows",
] as const satisfies readonly (keyof KernelExports)[];

// Compile-time check that the list names every member of KernelExports.
type Missing = Exclude<keyof KernelExports, (typeof KERNEL_FUNCTIONS)[number]>;
const allListed: [Missing] extends [never] ? true : Missing = true;
void allListed;

function hasKernelExports(ex: WebAssembly.Exports): ex is WebAssembly.Exports & KernelExports {
  return KERNEL_FUNCTIONS.every((name) => typeof ex[name] === "function");
}

export class WasmInstance {
  /** Bytes currently allocated through `alloc`, and the most ever at once. */
  bytesInUse = 0;
  peakBytes = 0;
  private readonly sizes = new Map<number, number>();
  private readonly buffers = new WeakSet<ArrayBufferLike>();

  private constructor(
    readonly exports: KernelExports,
    readonly memory: WebAssembly.Memory,
    readonly module: WebAssembly.Module,
    readonly kind: MemoryKind,
  ) {}

  /** Instantiate the module of a memory kind; "shared" creates the shared memory the workers import. */
  static async create(kind: MemoryKind): Promise<WasmInstance> {
    const module = await compileModule(kind);
    let memory: WebAssembly.Memory | undefined;
    const imports: WebAssembly.Imports = {};
    if (kind === "shared") {
      memory = new WebAssembly.Memory({ initial: SHARED_INITIAL_PAGES, maximum: MAX_PAGES, shared: true });
      imports.env = { memory };
    }
    const { exports } = await WebAssembly.instantiate(module, imports);
    if (!hasKernelExports(exports)) throw new Error(`wasm backend: the kernel module lacks an export; expected functions ${KERNEL_FUNCTIONS.join(", ")}`);
    const own = exports.memory;
    memory ??= own instanceof WebAssembly.Memory ? own : undefined;
    if (memory === undefined) throw new Error("wasm backend: the kernel module neither imports nor exports its memory");
    return new WasmInstance(exports, memory, module, kind);
  }

  /** The current memory buffer (remembered, so views of it are recognised as engine memory). */
  buffer(): ArrayBufferLike {
    const b = this.memory.buffer;
    this.buffers.add(b);
    return b;
  }

  /** True when `a` is a view into this instance's memory (live or freed). */
  isMemory(a: ArrayBufferView): boolean {
    return this.buffers.has(a.buffer) || a.buffer === this.memory.buffer;
  }

  /** True when `a` lies within one live block from `alloc`. */
  owns(a: ArrayBufferView): boolean {
    if (!this.isMemory(a)) return false;
    const start = a.byteOffset;
    const end = start + a.byteLength;
    const exact = this.sizes.get(start);
    if (exact !== undefined) return end <= start + exact;
    for (const [p, size] of this.sizes) if (start >= p && end <= p + size) return true;
    return false;
  }

  /** Allocate `bytes` (16-byte aligned). Throws a RangeError when memory cannot grow that far. */
  alloc(bytes: number): number {
    let ptr = 0;
    try {
      if (bytes <= MAX_BLOCK_BYTES) ptr = this.exports.alloc(Math.max(bytes, 16)) >>> 0;
    } catch {
      ptr = 0;
    }
    if (ptr === 0) {
      throw new RangeError(
        `wasm backend: cannot allocate ${bytes} bytes of engine memory (in use ${this.bytesInUse} bytes); expected at most 1 GiB per block and 4 GiB in all`,
      );
    }
    this.sizes.set(ptr, bytes);
    this.bytesInUse += bytes;
    if (this.bytesInUse > this.peakBytes) this.peakBytes = this.bytesInUse;
    return ptr;
  }

  /** Free a block from `alloc`; returns false (and does nothing) for an unknown address. */
  free(ptr: number): boolean {
    const size = this.sizes.get(ptr);
    if (size === undefined) return false;
    this.sizes.delete(ptr);
    this.bytesInUse -= size;
    this.exports.free(ptr);
    return true;
  }

  /** Size in bytes of the block at ptr, or undefined. */
  sizeOf(ptr: number): number | undefined {
    return this.sizes.get(ptr);
  }

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.buffer(), ptr, n);
  }

  f64(ptr: number, n: number): Float64Array {
    return new Float64Array(this.buffer(), ptr, n);
  }

  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.buffer(), ptr, n);
  }
}
