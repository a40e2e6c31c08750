/**
 * The engine: threaded, zero-copy cross-entropy beside the synchronous `crossEntropy`.
 *
 *   const engine = await createEngine({ backend: "auto", threads: 2 });
 *   const logits = engine.alloc(n * v);          // a Float32Array in engine memory
 *   // ... write logits ...
 *   const { loss, grad } = await engine.crossEntropy(logits, target, { classes: v, grad: true });
 *   engine.free(grad);                           // gradients of engine-owned logits live in engine memory
 *   engine.dispose();
 *
 * The engine validates each call when it is made, then hands it to its backend's executor
 * (src/backends/types.ts: Executor); calls run one at a time, in order. Inputs that are engine
 * memory (live blocks from `alloc`) are used where they lie; every other input (logits, targets,
 * probabilities, weights, options, hidden, weight) is captured when the call is made, so the
 * caller may reuse its arrays at once. A freed engine view is refused. Calls the executor does
 * not run (float64 input on the wasm executor) run on the synchronous backend the registry picks
 * for them ("auto"), with the same results as the synchronous API.
 */
import { backendFor, createExecutor, executorNames } from "../backends/registry.js";
import type {
  CrossEntropyArgs, DistillationArgs, Executor, FloatArray, GpuCrossEntropyArgs, GpuCrossEntropyResult, GpuDeviceLike, GpuLinearSubmission, GpuSubmission, MemoryStats,
} from "../backends/types.js";
import { crossEntropyOutput, crossEntropyShape, setLmOutputs } from "./crossEntropy.js";
import { distillationOutput, distillationShape } from "./distillation.js";
import { linearArgs, linearOutput, linearShape } from "./linearCrossEntropy.js";
import type {
  BackendName, BiasInput, CrossEntropyOptions, CrossEntropyOutput, CrossEntropyOutputOf, DistillationOptions, DistillationOutput, EngineLogitsInput, EngineTargetInput, FloatOutput,
  GpuBufferLike, GpuLinearCrossEntropyOptions, GpuLogits, GpuOperand, GradOutput, LinearCrossEntropyOptions, LinearCrossEntropyOutput, LinearCrossEntropyOutputOf, LogitsInput, MatrixInput, Reduction, TargetInput,
} from "./options.js";
import {
  describe, needsGpuPath, resolveCrossEntropy, resolveDistillation, resolveEngineOptions, resolveGpuCrossEntropy, resolveGpuLinear, resolveLinear, type ResolvedGpuCrossEntropy,
} from "./resolve.js";

export interface EngineOptions {
  /**
   * "wasm" (SIMD kernels; an error where WASM SIMD is missing), "js", "reference", "webgpu" (the
   * GPU through WebGPU; only by name, see docs/webgpu.md), "auto" (wasm where it runs, else js),
   * or a registered backend's name. Default "auto".
   */
  backend?: BackendName;
  /** Worker threads for the wasm backend (1 runs on the calling thread). Default: the CPU count, at most 8. */
  threads?: number;
  /**
   * How long the wasm backend's idle workers spin for the next job before they sleep, in ms, from
   * 0 to 1000. Default 1 (about OpenMP's short block time). A call that finds its workers spinning
   * starts on them at once; one that finds them asleep pays their wake-up (20–400 µs on a small
   * VM), and a one-row call of at most 2^18 logits runs on the calling thread alone instead. Longer
   * keeps them awake across calls further apart (a generation loop's), at the cost of one busy
   * core per worker while it spins. Results do not depend on it.
   */
  spinMs?: number;
  /** With backend "webgpu": a GPUDevice of your own (e.g. TensorFlow.js's), shared, not destroyed by dispose(). Default: a new device. */
  device?: GpuDeviceLike;
}

/** Bytes of engine memory allocated now, and the most at once since creation or the last reset. */
export type EngineMemoryStats = MemoryStats;

export interface Engine {
  /** The backend that runs the kernels. */
  readonly backend: string;
  /** Threads in use (1 where shared memory is unavailable, whatever was asked). */
  readonly threads: number;
  /**
   * n float32 elements of engine memory (zero-copy input), n from 0 to 2^28 (1 GiB). The view
   * stays valid until freed or disposed; with the wasm backend's shared memory it survives memory
   * growth. Only where shared memory is unavailable (browsers without cross-origin isolation) can
   * growth detach older views.
   */
  alloc(n: number): Float32Array;
  /** Free a block from `alloc`, or a gradient the engine returned for engine-owned logits. */
  free(buffer: Float32Array): void;
  /**
   * Cross-entropy with the same options and results (and result types) as `crossEntropy` (options.backend is ignored).
   * A webgpu engine also takes logits on the GPU (a GPUBuffer or a GpuBufferView, float32,
   * float16 or bfloat16), used where they lie, and 16-bit host logits (Uint16Array with
   * options.dtype): the gradient is then a GPU buffer (a new one, which the caller destroys; or
   * the logits' own with inplace), or a Uint16Array, in the logits' format (docs/webgpu.md).
   */
  crossEntropy<X extends EngineLogitsInput, R extends Reduction = "mean", G extends boolean = false, A extends boolean = false, M extends boolean = false, E extends boolean = false>(
    logits: X,
    target: EngineTargetInput,
    options?: CrossEntropyOptions & { reduction?: R; grad?: G; accuracy?: A; argmax?: M; entropy?: E },
  ): Promise<CrossEntropyOutputOf<FloatOutput<X>, R, G, A, M, E, GradOutput<X>>>;
  /**
   * Cross-entropy of GPU logits submitted at once, nothing read back (webgpu engines; others
   * throw): for synchronous frameworks that reduce the per-row values on the GPU themselves
   * (the TensorFlow.js adapter). Returns the (N, 2) float32 per-row loss and lse buffer (rewritten
   * by the next submission: copy it first), the mean's denominator (the loss of "mean" is the
   * sum of the per-row losses over it; of "sum", their sum), and the gradient's buffer, as
   * `crossEntropy` gives it. It does not wait for the engine's queued calls; GPU errors reach the
   * device's uncaptured-error handler. LM outputs are refused as with `crossEntropy`.
   */
  submitCrossEntropy<B extends GpuBufferLike>(logits: GpuLogits<B>, target: TargetInput, options?: CrossEntropyOptions): GpuSubmission<B>;
  /**
   * Fused LM head + cross-entropy with the same options and results as `linearCrossEntropy`
   * (options.backend is ignored), on the engine's threads. hidden and weight from `alloc` are used
   * in place; gradWeight is then a new engine block (free it).
   */
  linearCrossEntropy<
    X extends MatrixInput, R extends Reduction = "mean", G extends boolean = false, B extends BiasInput | undefined = undefined, A extends boolean = false, M extends boolean = false, E extends boolean = false,
  >(
    hidden: X,
    weight: MatrixInput,
    target: TargetInput,
    options?: LinearCrossEntropyOptions & { reduction?: R; grad?: G; bias?: B; accuracy?: A; argmax?: M; entropy?: E },
  ): Promise<LinearCrossEntropyOutputOf<FloatOutput<X>, R, G, B, A, M, E>>;
  /**
   * The fused LM head on GPU operands, submitted at once, nothing read back (webgpu engines;
   * others throw): for synchronous frameworks (the TensorFlow.js adapter). hidden (N, D) and
   * weight (V, D), and options.bias (V), are float32 GPU buffers or views (or Float32Arrays,
   * uploaded); targets are host arrays. Returns the (N, 2) per-row loss and lse, the mean's
   * denominator and, with `grad`, gradHidden, gradWeight and gradBias: GPU buffers of the
   * engine's, rewritten by the next submission (copy them first). `options.upstream` (N), with
   * reduction "none", scales each row's gradient (an autograd framework's upstream gradient).
   * accuracy, argmax and entropy are refused (the GPU linear head does not compute them). It does
   * not wait for the engine's queued calls; GPU errors reach the device's uncaptured-error handler.
   */
  submitLinearCrossEntropy<B extends GpuBufferLike>(hidden: GpuOperand<B>, weight: GpuOperand<B>, target: TargetInput, options?: GpuLinearCrossEntropyOptions<B>): GpuLinearSubmission<B>;
  /**
   * Distillation loss with the same options and results as `distillationLoss` (options.backend is
   * ignored). The gradient of engine-owned student logits is a new engine block (free it).
   */
  distillationLoss(studentLogits: LogitsInput, teacherLogits: LogitsInput, options?: DistillationOptions): Promise<DistillationOutput>;
  /** Engine memory in use and its peak (the wasm backend; zeros for js). */
  memoryStats(): EngineMemoryStats;
  /** Start measuring the peak afresh from what is in use now. */
  resetPeakMemory(): void;
  /** Stop the workers and release the memory; the engine and its views must not be used after. */
  dispose(): void;
}

/** Inputs captured for a call: the copies in engine memory to free when it settles, and their bytes. */
class Captured {
  readonly blocks: Float32Array[] = [];
  bytes = 0;
  constructor(private readonly ex: Executor) {}

  /** `x` itself when it is engine memory or already a private copy (`fresh`), else a copy of it. */
  take(x: FloatArray, fresh: boolean, toEngine: boolean): FloatArray {
    if (fresh || this.ex.owns(x)) return x;
    this.bytes += x.byteLength;
    if (!(toEngine && x instanceof Float32Array)) return x.slice();
    const b = this.ex.alloc(x.length);
    this.blocks.push(b);
    b.set(x);
    return b;
  }

  release(): void {
    for (const b of this.blocks) this.ex.free(b);
    this.blocks.length = 0;
  }
}

/**
 * Where a call's gradient goes: the (captured) logits for inplace; a new engine block (`keep`,
 * freed if the call fails) for engine-owned logits the executor runs; else a plain array.
 */
function gradTarget(ex: Executor, r: { grad: boolean; inplace: boolean; n: number; v: number }, xs: FloatArray, engineBlock: boolean): { gradOut: FloatArray | null; keep: Float32Array | null } {
  const size = r.n * r.v;
  if (r.grad && r.inplace) return { gradOut: xs, keep: null };
  if (r.grad && engineBlock) {
    const keep = ex.alloc(size);
    return { gradOut: keep, keep };
  }
  if (r.grad) return { gradOut: xs instanceof Float32Array ? new Float32Array(size) : new Float64Array(size), keep: null };
  return { gradOut: null, keep: null };
}

/**
 * The queued step of a call with a gradient target: run the kernel, hand the gradient back in the
 * caller's own buffer under `inplace` when the kernel worked on a captured copy `xs` of `x`, and on
 * settling release the captured inputs and, when the call failed, the engine block kept for the
 * gradient.
 */
function gradientStep<T, O>(
  ex: Executor,
  cap: Captured,
  g: { gradOut: FloatArray | null; keep: Float32Array | null },
  inplace: boolean,
  x: FloatArray,
  xs: FloatArray,
  run: () => Promise<T> | T,
  finish: (result: T, grad: FloatArray | null) => O,
): { work: () => Promise<O>; cleanup: () => void } {
  let ok = false;
  return {
    work: async () => {
      const result = await run();
      let grad = g.gradOut;
      if (inplace && xs !== x) {
        x.set(xs); // the caller's own buffer receives the gradient
        grad = x;
      }
      ok = true;
      return finish(result, grad);
    },
    cleanup: () => {
      cap.release();
      if (!ok && g.keep !== null) ex.free(g.keep);
    },
  };
}

class ExecutorEngine implements Engine {
  readonly backend: string;
  readonly threads: number;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly executor: Executor) {
    this.backend = executor.name;
    this.threads = executor.threads;
  }

  alloc(n: number): Float32Array {
    const max = this.executor.maxAlloc;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > max) {
      throw new RangeError(`engine.alloc: n is ${describe(n)}; expected an integer count of float32 elements from 0 to 2^${Math.log2(max)} (${max * 4 / 2 ** 30} GiB per block)`);
    }
    return this.executor.alloc(n);
  }

  free(buffer: Float32Array): void {
    if (!(buffer instanceof Float32Array) || !this.executor.free(buffer)) {
      throw new RangeError(
        `engine.free: buffer is ${describe(buffer)}, not a live block from this engine's alloc; expected the Float32Array that engine.alloc returned (or a result's grad), freed once`,
      );
    }
  }

  /** Refuse a view of freed engine memory as the input `name`. */
  private live(fn: string, name: string, x: FloatArray | null): void {
    if (x !== null && this.executor.freed(x)) {
      throw new RangeError(`${fn}: ${name} is a view of engine memory that has been freed; expected a live block from engine.alloc, or an array of your own`);
    }
  }

  /** Run `work` after every earlier call; `prepare` runs now (validation and capture), and `cleanup` when it settles. */
  private enqueue<T>(prepare: () => { work: () => Promise<T>; cleanup: () => void }): Promise<T> {
    let step: { work: () => Promise<T>; cleanup: () => void };
    try {
      step = prepare();
    } catch (e) {
      return Promise.reject(e);
    }
    const p = this.queue.then(step.work).finally(step.cleanup);
    this.queue = p.catch(() => undefined);
    return p;
  }

  crossEntropy<X extends EngineLogitsInput, R extends Reduction = "mean", G extends boolean = false, A extends boolean = false, M extends boolean = false, E extends boolean = false>(
    logits: X,
    target: EngineTargetInput,
    options?: CrossEntropyOptions & { reduction?: R; grad?: G; accuracy?: A; argmax?: M; entropy?: E },
  ): Promise<CrossEntropyOutputOf<FloatOutput<X>, R, G, A, M, E, GradOutput<X>>>;
  crossEntropy(logits: EngineLogitsInput, target: EngineTargetInput, options?: CrossEntropyOptions): Promise<CrossEntropyOutput<FloatArray, Reduction, FloatArray | Uint16Array | GpuBufferLike>> {
    const fn = "engine.crossEntropy";
    const gpu = this.executor.crossEntropyGpu?.bind(this.executor);
    if (gpu !== undefined && needsGpuPath(logits, target)) return this.enqueue(() => this.gpuStep(fn, gpu, logits, target, options));
    // Elsewhere GPU and 16-bit inputs are refused by resolveCrossEntropy, with one line.
    return this.enqueue(() => {
      const ex = this.executor;
      const r = resolveCrossEntropy(fn, "crossEntropy", logits as LogitsInput, target as TargetInput, options);
      this.live(fn, "logits", r.logits);
      this.live(fn, "target.probs", r.probs);
      const shape = crossEntropyShape(r);
      const onExecutor = ex.supports(shape) === true;
      const cap = new Captured(ex);
      const x = r.logits;
      const callerProbs = typeof target === "object" && target !== null && "probs" in target && r.probs === target.probs;
      const probs = r.probs === null ? null : cap.take(r.probs, !callerProbs, onExecutor);
      const owned = ex.owns(x);
      const xs = cap.take(x, x !== logits, onExecutor);
      const g = gradTarget(ex, r, xs, owned && onExecutor);
      const args: CrossEntropyArgs = { logits: xs, n: r.n, v: r.v, target: r.target, probs, spec: r.spec, gradOut: g.gradOut };
      return gradientStep(
        ex, cap, g, r.inplace, x, xs,
        () => (onExecutor ? ex.crossEntropy(args) : backendFor(fn, "auto", shape).crossEntropy!(args)),
        (result, grad) => crossEntropyOutput(args, result, grad),
      );
    });
  }

  submitCrossEntropy<B extends GpuBufferLike>(logits: GpuLogits<B>, target: TargetInput, options?: CrossEntropyOptions): GpuSubmission<B>;
  submitCrossEntropy(logits: GpuLogits, target: TargetInput, options?: CrossEntropyOptions): GpuSubmission {
    const fn = "engine.submitCrossEntropy";
    const submit = this.onWebGpu(fn, this.executor.crossEntropyGpuSync);
    const r = this.resolveGpu(fn, logits, target, options);
    if ("host" in r.logits) throw new TypeError(`${fn}: logits is a host array; expected a GPUBuffer or a view of one`);
    return submit.call(this.executor, { ...r, gradOut: null });
  }

  submitLinearCrossEntropy<B extends GpuBufferLike>(hidden: GpuOperand<B>, weight: GpuOperand<B>, target: TargetInput, options?: GpuLinearCrossEntropyOptions<B>): GpuLinearSubmission<B>;
  submitLinearCrossEntropy(hidden: GpuOperand, weight: GpuOperand, target: TargetInput, options?: GpuLinearCrossEntropyOptions): GpuLinearSubmission {
    const fn = "engine.submitLinearCrossEntropy";
    const submit = this.onWebGpu(fn, this.executor.linearCrossEntropyGpuSync);
    const r = resolveGpuLinear(fn, hidden, weight, target, options);
    const why = this.executor.supports({ kernel: "linearCrossEntropy", dtype: "float32", n: r.n, v: r.v, d: r.d, grad: r.grad });
    if (why !== true) throw new RangeError(`${fn}: a GPU submission runs only on the GPU, which cannot run this call: ${why}`);
    return submit.call(this.executor, r);
  }

  /** A webgpu executor's method, or a one-line refusal on other backends. */
  private onWebGpu<F>(fn: string, method: F | undefined): F {
    if (method === undefined) throw new TypeError(`${fn}: this engine runs on ${this.backend}; expected an engine on the webgpu backend (createEngine({ backend: "webgpu" }))`);
    return method;
  }

  /** A call on GPU or 16-bit logits, validated, and refused when the GPU kernel cannot run it (such inputs never fall back to the CPU). */
  private resolveGpu(fn: string, logits: EngineLogitsInput, target: EngineTargetInput, options: CrossEntropyOptions | undefined): ResolvedGpuCrossEntropy {
    const r = resolveGpuCrossEntropy(fn, logits, target, options);
    const why = this.executor.supports({ kernel: "crossEntropy", dtype: "float32", n: r.n, v: r.v, d: 0, grad: r.grad !== "none" });
    if (why !== true) throw new RangeError(`${fn}: GPU and 16-bit logits run only on the GPU, which cannot run this call: ${why}`);
    return r;
  }

  /**
   * A call on GPU or 16-bit logits: validated now (GPU contents are read when it runs: leave them
   * until it settles), run by the webgpu kernel, never read back. 16-bit host logits and host
   * probabilities are captured; the result's per-row values are float32.
   */
  private gpuStep(
    fn: string,
    gpu: (args: GpuCrossEntropyArgs) => Promise<GpuCrossEntropyResult>,
    logits: EngineLogitsInput,
    target: EngineTargetInput,
    options: CrossEntropyOptions | undefined,
  ): { work: () => Promise<CrossEntropyOutput<FloatArray, Reduction, Uint16Array | GpuBufferLike>>; cleanup: () => void } {
    const r = this.resolveGpu(fn, logits, target, options);
    const host = "host" in r.logits ? r.logits.host : null;
    const hs = host === null ? null : host.slice(); // captured
    const inplace = r.grad === "inplace";
    const gradOut = hs === null || r.grad === "none" ? null : inplace ? hs : new Uint16Array(hs.length);
    const args: GpuCrossEntropyArgs = {
      logits: hs === null ? r.logits : { host: hs, dtype: r.logits.dtype === "float16" ? "float16" : "bfloat16" },
      n: r.n,
      v: r.v,
      target: r.target,
      probs: r.probs === null || !ArrayBuffer.isView(r.probs) ? r.probs : r.probs.slice(),
      spec: r.spec,
      grad: r.grad,
      gradOut,
    };
    return {
      work: async () => {
        const result = await gpu(args);
        const out: CrossEntropyOutput<FloatArray, Reduction, Uint16Array | GpuBufferLike> = {
          loss: r.spec.reduction === "none" ? Float32Array.from(result.rowLoss) : result.loss,
          lse: Float32Array.from(result.lse),
        };
        if (host !== null && gradOut !== null && inplace) host.set(gradOut);
        const grad = host !== null && inplace ? (logits instanceof Uint16Array ? logits : host) : (gradOut ?? result.grad);
        if (grad !== null) out.grad = grad;
        setLmOutputs(fn, out, r.target, r.spec, r.n, result, true);
        return out;
      },
      cleanup: () => undefined,
    };
  }

  linearCrossEntropy<
    X extends MatrixInput, R extends Reduction = "mean", G extends boolean = false, B extends BiasInput | undefined = undefined, A extends boolean = false, M extends boolean = false, E extends boolean = false,
  >(
    hidden: X,
    weight: MatrixInput,
    target: TargetInput,
    options?: LinearCrossEntropyOptions & { reduction?: R; grad?: G; bias?: B; accuracy?: A; argmax?: M; entropy?: E },
  ): Promise<LinearCrossEntropyOutputOf<FloatOutput<X>, R, G, B, A, M, E>>;
  linearCrossEntropy(hidden: MatrixInput, weight: MatrixInput, target: TargetInput, options?: LinearCrossEntropyOptions): Promise<LinearCrossEntropyOutput> {
    const fn = "engine.linearCrossEntropy";
    return this.enqueue(() => {
      const ex = this.executor;
      const r = resolveLinear(fn, hidden, weight, target, options);
      this.live(fn, "hidden", r.hidden);
      this.live(fn, "weight", r.weight);
      this.live(fn, "target.probs", r.probs);
      const shape = linearShape(r);
      const onExecutor = ex.supports(shape) === true;
      const cap = new Captured(ex);
      const callerProbs = typeof target === "object" && target !== null && "probs" in target && r.probs === target.probs;
      const weightOwned = ex.owns(r.weight);
      const resolved = {
        ...r,
        hidden: cap.take(r.hidden, r.hidden !== hidden, onExecutor),
        weight: cap.take(r.weight, r.weight !== weight, onExecutor),
        probs: r.probs === null ? null : cap.take(r.probs, !callerProbs, onExecutor),
      };
      // gradWeight of engine-owned weight is a new engine block (zero-filled); else a plain array.
      let keep: Float32Array | null = null;
      if (r.grad && weightOwned && onExecutor) {
        keep = ex.alloc(r.v * r.d);
        keep.fill(0);
      }
      const args = linearArgs(resolved, keep);
      let ok = false;
      return {
        work: async () => {
          const result = onExecutor ? await ex.linearCrossEntropy(args) : backendFor(fn, "auto", shape).linearCrossEntropy!(args);
          ok = true;
          return linearOutput(args, result, args.gradWeight, cap.bytes);
        },
        cleanup: () => {
          cap.release();
          if (!ok && keep !== null) ex.free(keep);
        },
      };
    });
  }

  distillationLoss(studentLogits: LogitsInput, teacherLogits: LogitsInput, options?: DistillationOptions): Promise<DistillationOutput> {
    const fn = "engine.distillationLoss";
    return this.enqueue(() => {
      const ex = this.executor;
      const r = resolveDistillation(fn, studentLogits, teacherLogits, options);
      this.live(fn, "studentLogits", r.student);
      this.live(fn, "teacherLogits", r.teacher);
      const shape = distillationShape(r);
      // An executor without a distillation kernel (webgpu) leaves the call to a CPU backend.
      const kernel = ex.distillation?.bind(ex);
      const onExecutor = kernel !== undefined && ex.supports(shape) === true;
      const cap = new Captured(ex);
      const x = r.student;
      const owned = ex.owns(x);
      const xs = cap.take(x, x !== studentLogits, onExecutor);
      const teacher = cap.take(r.teacher, r.teacher !== teacherLogits, onExecutor);
      const g = gradTarget(ex, r, xs, owned && onExecutor);
      const args: DistillationArgs = { student: xs, teacher, n: r.n, v: r.v, target: r.target, spec: r.spec, gradOut: g.gradOut };
      return gradientStep(
        ex, cap, g, r.inplace, x, xs,
        () => (onExecutor && kernel !== undefined ? kernel(args) : backendFor(fn, "auto", shape).distillation!(args)),
        (result, grad) => distillationOutput(args, result, grad),
      );
    });
  }

  memoryStats(): EngineMemoryStats {
    return this.executor.memoryStats();
  }

  resetPeakMemory(): void {
    this.executor.resetPeakMemory();
  }

  dispose(): void {
    this.executor.dispose();
  }
}

/**
 * Create an engine. "auto" picks wasm where WebAssembly SIMD runs and js elsewhere; "wasm" throws
 * where it cannot run; "webgpu" (never picked by "auto") throws where no WebGPU adapter exists. Threads above 1 need shared memory (Node; browsers with cross-origin
 * isolation); elsewhere the engine runs on 1 thread and says so in `engine.threads`.
 */
export async function createEngine(options?: EngineOptions): Promise<Engine> {
  const o = resolveEngineOptions(options, executorNames());
  return new ExecutorEngine(await createExecutor("createEngine", o.backend, { threads: o.threads, spinMs: o.spinMs, device: o.device }));
}

/** Test hook (not exported from the package): the executor behind an engine. */
export function engineExecutor(engine: Engine): Executor {
  if (!(engine instanceof ExecutorEngine)) throw new TypeError("engineExecutor: expected an engine from createEngine");
  return engine.executor;
}
