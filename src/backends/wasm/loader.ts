/**
 * Loading the embedded wasm kernels: feature detection (SIMD128, relaxed SIMD, threads) in one
 * place, by WebAssembly.validate on the embedded modules themselves, and cached compilation.
 * Nothing runs at import time.
 */
import { sharedMemoryAvailable } from "../env.js";
import * as gen from "./wasm.gen.js";

/** What this runtime can run. */
export interface WasmFeatures {
  /** WebAssembly with SIMD128: the wasm backend can run at all. */
  readonly simd: boolean;
  /** Relaxed SIMD (fused multiply-add) validates; the relaxed build is used. */
  readonly relaxedSimd: boolean;
  /** Shared memory and wasm threads (SharedArrayBuffer, cross-origin isolation in browsers). */
  readonly threads: boolean;
}

/** Which memory a module variant uses: its own (sync backend) or an imported shared one (engine, pool). */
export type MemoryKind = "own" | "shared";

const bytesCache = new Map<string, Uint8Array<ArrayBuffer>>();

function decode(name: keyof typeof gen): Uint8Array<ArrayBuffer> {
  let b = bytesCache.get(name);
  if (b === undefined) {
    const s = atob(gen[name]);
    b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
    bytesCache.set(name, b);
  }
  return b;
}

function validate(name: keyof typeof gen): boolean {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(decode(name));
  } catch {
    return false;
  }
}

let features: WasmFeatures | null = null;

/** Detect (once) what this runtime supports. */
export function detectFeatures(): WasmFeatures {
  if (features !== null) return features;
  const simd = validate("simd");
  const relaxedSimd = simd && validate("relaxed");
  let threads = false;
  if (simd && sharedMemoryAvailable() && validate("simdShared")) {
    try {
      threads = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
    } catch {
      threads = false;
    }
  }
  features = { simd, relaxedSimd, threads };
  return features;
}

/** The embedded bytes of the best variant for a memory kind (relaxed SIMD where it validates). */
function wasmBytes(kind: MemoryKind, f: WasmFeatures = detectFeatures()): Uint8Array<ArrayBuffer> {
  if (kind === "own") return decode(f.relaxedSimd ? "relaxed" : "simd");
  return decode(f.relaxedSimd && validate("relaxedShared") ? "relaxedShared" : "simdShared");
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
    m = WebAssembly.compile(wasmBytes(kind, f));
    moduleCache.set(kind, m);
  }
  return m;
}

/** Pages of 64 KiB; the modules declare a 4 GiB maximum. */
export const MAX_PAGES = 65536;
export const SHARED_INITIAL_PAGES = 16;
