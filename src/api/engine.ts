/**
 * The engine: threaded, zero-copy cross-entropy beside the synchronous `crossEntropy`.
 *
 *   const engine = await createEngine({ backend: "auto", threads: 2 });
 *   const logits = engine.alloc(n * v);          // a Float32Array in engine memory
 *   // ... write logits ...
 *   const { loss, grad } = await engine.crossEntropy(logits, target, { classes: v, grad: true });
 *   engine.free(grad!);                          // gradients of engine-owned logits live in engine memory
 *   engine.dispose();
 *
 * Logits from `engine.alloc` (or any view into engine memory) are used where they lie: no copy in,
 * and the gradient is written into engine memory (a new block, or the logits with `inplace`).
 * Other logits are copied in, and the gradient copied out to a plain Float32Array. Float64 logits
 * run the js kernel (the wasm kernels are float32). Calls on one engine run one at a time, in order.
 */
import { jsBackend } from "../backends/js/index.js";
import { stage, collect, runRows } from "../backends/wasm/crossEntropy.js";
import { WasmInstance } from "../backends/wasm/instance.js";
import { detectFeatures } from "../backends/wasm/loader.js";
import { ThreadPool, type WorkerFault } from "../backends/wasm/pool.js";
import type { CrossEntropyArgs } from "../backends/types.js";
import { finishCrossEntropy, prepareCrossEntropy } from "./crossEntropy.js";
import type { CrossEntropyOptions, CrossEntropyOutput, LinearCrossEntropyOptions, LinearCrossEntropyOutput, LogitsInput, MatrixInput, TargetInput } from "./options.js";
import { linearOnJs, linearOnWasm } from "./engineLinear.js";
import { checkAllocCount, notEngineBlock, resolveEngineOptions, resolveLogits, resolveOptions, resolveTarget } from "./validate.js";

export interface EngineOptions {
  /** "wasm" (SIMD kernels; an error where WASM SIMD is missing), "js", or "auto" (wasm where it runs). Default "auto". */
  backend?: "auto" | "wasm" | "js";
  /** Worker threads for the wasm backend (1 runs on the calling thread). Default: the CPU count, at most 8. */
  threads?: number;
}

/** Bytes of engine memory allocated now, and the most at once since creation or the last reset. */
export interface EngineMemoryStats {
  bytesInUse: number;
  peakBytes: number;
}

export interface Engine {
  /** The backend that runs the kernels. */
  readonly backend: "wasm" | "js";
  /** Threads in use (1 where shared memory is unavailable, whatever was asked). */
  readonly threads: number;
  /**
   * n float32 elements of engine memory (zero-copy input). The view stays valid until freed or
   * disposed; with the wasm backend's shared memory it survives memory growth. Only where shared
   * memory is unavailable (browsers without cross-origin isolation) can growth detach older views.
   */
  alloc(n: number): Float32Array;
  /** Free a block from `alloc`, or a gradient the engine returned for engine-owned logits. */
  free(buffer: Float32Array): void;
  /** Cross-entropy with the same options and results as `crossEntropy` (options.backend is ignored). */
  crossEntropy(logits: LogitsInput, target: TargetInput, options?: CrossEntropyOptions): Promise<CrossEntropyOutput>;
  /**
   * Fused LM head + cross-entropy with the same options and results as `linearCrossEntropy`
   * (options.backend is ignored), on the engine's threads. hidden and weight from `alloc` are used
   * in place; gradWeight is then a new engine block (free it). See src/api/engineLinear.ts.
   */
  linearCrossEntropy(hidden: MatrixInput, weight: MatrixInput, target: TargetInput, options?: LinearCrossEntropyOptions): Promise<LinearCrossEntropyOutput>;
  /** Engine memory in use and its peak (the wasm backend; zeros for js). */
  memoryStats(): EngineMemoryStats;
  /** Start measuring the peak afresh from what is in use now. */
  resetPeakMemory(): void;
  /** Stop the workers and release the memory; the engine and its views must not be used after. */
  dispose(): void;
}

const fn = "engine.crossEntropy";

class JsEngine implements Engine {
  readonly backend = "js" as const;
  readonly threads = 1;
  alloc(n: number): Float32Array {
    return new Float32Array(checkAllocCount(n));
  }
  free(buffer: Float32Array): void {
    if (!(buffer instanceof Float32Array)) throw notEngineBlock(buffer);
  }
  async crossEntropy(logits: LogitsInput, target: TargetInput, options?: CrossEntropyOptions): Promise<CrossEntropyOutput> {
    const { args, f32 } = prepareCrossEntropy(fn, logits, target, options);
    return finishCrossEntropy(args, jsBackend.crossEntropy(args), f32);
  }
  async linearCrossEntropy(hidden: MatrixInput, weight: MatrixInput, target: TargetInput, options?: LinearCrossEntropyOptions): Promise<LinearCrossEntropyOutput> {
    return linearOnJs(hidden, weight, target, options);
  }
  memoryStats(): EngineMemoryStats {
    return { bytesInUse: 0, peakBytes: 0 };
  }
  resetPeakMemory(): void {}
  dispose(): void {}
}

class WasmEngine implements Engine {
  readonly backend = "wasm" as const;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  /** Test hook: the next pooled call makes a worker fail this way. */
  fault: WorkerFault | undefined;

  constructor(
    private readonly inst: WasmInstance,
    private readonly pool: ThreadPool | null,
    readonly threads: number,
  ) {}

  private live(): void {
    if (this.disposed) throw new Error("engine: this engine has been disposed");
  }

  alloc(n: number): Float32Array {
    this.live();
    const count = checkAllocCount(n);
    return this.inst.f32(this.inst.alloc(count * 4), count);
  }

  free(buffer: Float32Array): void {
    this.live();
    if (!(buffer instanceof Float32Array) || !this.inst.owns(buffer) || !this.inst.free(buffer.byteOffset)) throw notEngineBlock(buffer);
  }

  crossEntropy(logits: LogitsInput, target: TargetInput, options?: CrossEntropyOptions): Promise<CrossEntropyOutput> {
    const p = this.queue.then(() => this.run(logits, target, options));
    this.queue = p.catch(() => undefined);
    return p;
  }

  linearCrossEntropy(hidden: MatrixInput, weight: MatrixInput, target: TargetInput, options?: LinearCrossEntropyOptions): Promise<LinearCrossEntropyOutput> {
    const p = this.queue.then(() => {
      this.live();
      return linearOnWasm(this.inst, this.pool, this.threads, hidden, weight, target, options);
    });
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async run(logits: LogitsInput, target: TargetInput, options?: CrossEntropyOptions): Promise<CrossEntropyOutput> {
    this.live();
    const flat = resolveLogits(fn, logits, options?.classes);
    if (!(flat.data instanceof Float32Array)) {
      const { args, f32 } = prepareCrossEntropy(fn, logits, target, options);
      return finishCrossEntropy(args, jsBackend.crossEntropy(args), f32);
    }
    const opts = resolveOptions(fn, options, flat.v);
    const t = resolveTarget(fn, target, flat.n, flat.v, opts.ignoreIndex);
    const { inst } = this;
    const x = flat.data;
    const { n, v } = flat;
    const size = n * v;
    const owned = inst.owns(x);
    const args: CrossEntropyArgs = {
      logits: x, n, v, target: t.target, probs: t.probs, labelSmoothing: opts.labelSmoothing, weight: opts.weight,
      zLoss: opts.zLoss, softcap: opts.softcap, reduction: opts.reduction, gradOut: null,
    };
    const temps: number[] = [];
    let gradPtr = 0;
    let keepGrad = false;
    try {
      let logitsPtr = x.byteOffset;
      if (!owned) {
        logitsPtr = inst.alloc(size * 4);
        temps.push(logitsPtr);
        inst.f32(logitsPtr, size).set(x);
      }
      if (opts.grad) {
        if (opts.inplace) gradPtr = logitsPtr;
        else {
          gradPtr = inst.alloc(size * 4);
          keepGrad = owned;
          if (!owned) temps.push(gradPtr);
        }
      }
      const probs = t.probs;
      const probsPtr = probs instanceof Float32Array && inst.owns(probs) ? probs.byteOffset : 0;
      const staged = stage(inst, args, logitsPtr, gradPtr, this.threads, probsPtr);
      try {
        if (this.pool !== null) {
          const fault = this.fault;
          this.fault = undefined;
          await this.pool.run(staged.call, fault);
        } else {
          runRows(inst, staged.call, 0, n);
        }
      } catch (e) {
        for (const p of staged.temps) inst.free(p);
        throw e;
      }
      const result = collect(inst, staged, args);
      let grad: Float32Array | null = null;
      if (opts.grad) {
        if (opts.inplace) {
          if (owned) grad = x.length === size ? x : inst.f32(logitsPtr, size);
          else {
            x.set(inst.f32(logitsPtr, size));
            grad = x;
          }
        } else grad = owned ? inst.f32(gradPtr, size) : inst.f32(gradPtr, size).slice();
      }
      return finishCrossEntropy({ ...args, gradOut: grad }, result, true);
    } catch (e) {
      if (keepGrad) inst.free(gradPtr);
      throw e;
    } finally {
      for (const p of temps) inst.free(p);
    }
  }

  memoryStats(): EngineMemoryStats {
    return { bytesInUse: this.inst.bytesInUse, peakBytes: this.inst.peakBytes };
  }

  resetPeakMemory(): void {
    this.inst.peakBytes = this.inst.bytesInUse;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool?.terminate();
  }
}

async function defaultThreads(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  let cpus = nav?.hardwareConcurrency;
  if (cpus === undefined && typeof process === "object" && process.versions?.node !== undefined) {
    const spec = "node:os";
    cpus = ((await import(spec)) as typeof import("node:os")).availableParallelism();
  }
  return Math.max(1, Math.min(8, cpus ?? 1));
}

/**
 * Create an engine. "auto" picks wasm where WebAssembly SIMD runs and js elsewhere; "wasm" throws
 * where it cannot run. Threads above 1 need shared memory (Node; browsers with cross-origin
 * isolation); elsewhere the engine runs on 1 thread and says so in `engine.threads`.
 */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const o = resolveEngineOptions(options);
  const f = detectFeatures();
  if (o.backend === "js" || (o.backend === "auto" && !f.simd)) return new JsEngine();
  if (!f.simd) throw new Error('createEngine: backend "wasm" needs WebAssembly SIMD, which this runtime lacks; expected backend "auto" or "js"');
  let threads = o.threads ?? (await defaultThreads());
  if (!f.threads) threads = 1;
  const inst = await WasmInstance.create(f.threads ? "shared" : "own");
  const pool = threads > 1 ? await ThreadPool.create(threads, inst.module, inst.memory) : null;
  return new WasmEngine(inst, pool, threads);
}

/** Test hook (not exported from the package): make a worker of the engine's next call fail. */
export function injectWorkerFault(engine: Engine, fault: WorkerFault): void {
  if (!(engine instanceof WasmEngine)) throw new TypeError("injectWorkerFault: expected a wasm engine");
  engine.fault = fault;
}
