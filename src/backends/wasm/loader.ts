/**
 * Loading the embedded wasm kernels: feature detection (SIMD128, relaxed SIMD, threads) in one
 * place, and cached compilation. Detection validates three modules of a few dozen bytes each, so
 * it is synchronous and cheap; the embedded kernels themselves (wasm.gen.ts, about 130 kB of
 * base64 per variant) are imported only when a module is first compiled, by `init()` or
 * `createEngine()`, which keeps them out of `import "xent"`. Nothing runs at import time.
 */
import { sharedMemoryAvailable } from "../env.js";

/** What this runtime can run. */
export interface WasmFeatures {
  /** WebAssembly with SIMD128: the wasm backend can run at all. */
  readonly simd: boolean;
  /**
   * Relaxed SIMD validates and its multiply-add fuses (one rounding) on this CPU: the relaxed
   * build is used. Its exp polynomial relies on the fused rounding for its 2 ulp bound; where the
   * runtime lowers the multiply-add to a multiply and an add (x86 without FMA3), the plain build is.
   */
  readonly relaxedSimd: boolean;
  /** Shared memory and wasm threads (SharedArrayBuffer, cross-origin isolation in browsers). */
  readonly threads: boolean;
}

/** Which memory a module variant uses: its own (sync backend) or an imported shared one (engine, pool). */
export type MemoryKind = "own" | "shared";

/** The header and type section of a probe: one function () -> v128 (or () -> () for threads). */
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const F32X4_ZERO = [0x43, 0, 0, 0, 0, 0xfd, 0x13]; // f32.const 0; f32x4.splat
/** (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt) */
const PROBE_SIMD = [...HEADER, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, 10, 1, 8, 0, 0x41, 0, 0xfd, 0x0f, 0xfd, 0x62, 0x0b];
/** (func (result v128) f32x4.relaxed_madd of three splats): the instruction the relaxed build uses */
const PROBE_RELAXED = [...HEADER, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, 28, 1, 26, 0, ...F32X4_ZERO, ...F32X4_ZERO, ...F32X4_ZERO, 0xfd, 0x85, 0x02, 0x0b];
/**
 * (func (export "f") (result f32) lane 0 of f32x4.relaxed_madd(a, a, c)) with a = 1 + 2^−12 and
 * c = −(1 + 2^−11): a·a = 1 + 2^−11 + 2^−24 exactly, so a fused multiply-add returns 2^−24, and a
 * multiply rounded before the add (to even: 1 + 2^−11) returns 0.
 */
const F32_A = [0x43, 0x00, 0x08, 0x80, 0x3f, 0xfd, 0x13]; // f32.const 1 + 2^−12; f32x4.splat
const F32_C = [0x43, 0x00, 0x10, 0x80, 0xbf, 0xfd, 0x13]; // f32.const −(1 + 2^−11); f32x4.splat
const PROBE_FUSED = [
  ...[...HEADER, 1, 5, 1, 0x60, 0, 1, 0x7d, 3, 2, 1, 0, 7, 5, 1, 1, 0x66, 0, 0],
  ...[10, 31, 1, 29, 0, ...F32_A, ...F32_A, ...F32_C, 0xfd, 0x85, 0x02, 0xfd, 0x1f, 0, 0x0b],
];
/** (memory 1 1 shared) (func i32.const 0 i32.atomic.load drop) */
const PROBE_THREADS = [...HEADER, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 0x41, 0, 0xfe, 0x10, 2, 0, 0x1a, 0x0b];

function validates(bytes: readonly number[]): boolean {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(new Uint8Array(bytes));
  } catch {
    return false;
  }
}

/** Whether relaxed SIMD's multiply-add is fused here: runs the probe above (a module of 59 bytes). */
export function maddFuses(): boolean {
  try {
    const probe = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(PROBE_FUSED)));
    return (probe.exports.f as () => number)() === 2 ** -24;
  } catch {
    return false;
  }
}

let features: WasmFeatures | null = null;

/** Detect (once) what this runtime supports. */
export function detectFeatures(): WasmFeatures {
  if (features !== null) return features;
  const simd = validates(PROBE_SIMD);
  const relaxedSimd = simd && validates(PROBE_RELAXED) && maddFuses();
  let threads = false;
  if (simd && sharedMemoryAvailable() && validates(PROBE_THREADS)) {
    try {
      threads = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
    } catch {
      threads = false;
    }
  }
  features = { simd, relaxedSimd, threads };
  return features;
}

type Variant = "simd" | "relaxed" | "simdShared" | "relaxedShared";

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const s = atob(base64);
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/**
 * Compile the best variant for a memory kind: the relaxed-SIMD build where the probe says the
 * runtime has it, and the plain SIMD build if that compilation fails all the same.
 */
async function compileBest(kind: MemoryKind, f: WasmFeatures): Promise<WebAssembly.Module> {
  const gen = await import("./wasm.gen.js");
  const plain: Variant = kind === "own" ? "simd" : "simdShared";
  if (f.relaxedSimd) {
    try {
      return await WebAssembly.compile(decode(gen[kind === "own" ? "relaxed" : "relaxedShared"]));
    } catch {
      // the probe validated but the kernels do not: the plain build below
    }
  }
  return WebAssembly.compile(decode(gen[plain]));
}

const moduleCache = new Map<MemoryKind, Promise<WebAssembly.Module>>();

/** Compile (once per kind) the module for a memory kind. Throws when WASM SIMD is missing. */
export function compileModule(kind: MemoryKind): Promise<WebAssembly.Module> {
  const f = detectFeatures();
  if (!f.simd) return Promise.reject(new Error("wasm backend: this runtime lacks WebAssembly SIMD; use the js backend"));
  if (kind === "shared" && !f.threads) {
    return Promise.reject(new Error("wasm backend: this runtime lacks shared WebAssembly memory (in browsers: cross-origin isolation)"));
  }
  let m = moduleCache.get(kind);
  if (m === undefined) {
    m = compileBest(kind, f);
    moduleCache.set(kind, m);
  }
  return m;
}

/** Pages of 64 KiB; the modules declare a 4 GiB maximum. */
export const MAX_PAGES = 65536;
export const SHARED_INITIAL_PAGES = 16;
