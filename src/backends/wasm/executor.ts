/**
 * The wasm executor: one instance over (shared, where threads run) wasm memory, a thread pool
 * when it has more than one thread, and the pointer bookkeeping of a call. Inputs that are live
 * blocks of this memory are used where they lie (zero-copy); others are copied in for the call.
 * Gradient outputs that are live blocks are written in place; others are filled at the end.
 */
import { lmOnly, MAX_BLOCK_ELEMENTS } from "../common.js";
import { cpuCount } from "../env.js";
import type { CallShape, CrossEntropyArgs, CrossEntropyResult, DistillationArgs, DistillationResult, Executor, FloatArray, LinearCrossEntropyArgs, LinearCrossEntropyResult, MemoryStats } from "../types.js";
import { runJob, type Job } from "./abi.js";
import { collect, rowsJob, stage, type Staged } from "./crossEntropy.js";
import { collectDistillation, distillationJob, stageDistillation, type StagedDistillation } from "./distillation.js";
import { WasmInstance } from "./instance.js";
import { linearCall } from "./linearCrossEntropy.js";
import { detectFeatures } from "./loader.js";
import { ThreadPool, type WorkerFault } from "./pool.js";
import { useVocabSplit, VOCAB_SPLIT_LOCAL_MAX, vocabSplit } from "./vocabSplit.js";

/** Threads when none are asked for: the CPU count, at most 8. */
const DEFAULT_MAX_THREADS = 8;

export class WasmExecutor implements Executor {
  readonly name = "wasm";
  readonly maxAlloc = MAX_BLOCK_ELEMENTS;
  private disposed = false;
  /** Test hook: the next pooled job makes a worker fail this way. */
  fault: WorkerFault | undefined;
  /**
   * When the last crossEntropy call ended (performance.now()): small calls wake the workers only
   * when calls come back to back, less than the workers' spin (pool.spinUs) apart, so that they
   * stay awake from one such call to the next.
   */
  private lastCall = -Infinity;

  private constructor(
    private readonly inst: WasmInstance,
    private readonly pool: ThreadPool | null,
    readonly threads: number,
  ) {}

  /**
   * An executor on `threads` threads (1 where shared memory is unavailable; default: the CPU
   * count, at most 8) whose workers spin `spinMs` between jobs before they sleep (default: the
   * pool's, WORKER_SPIN_US).
   */
  static async create(threads: number | undefined, spinMs?: number): Promise<WasmExecutor> {
    const f = detectFeatures();
    let t = threads ?? Math.min(DEFAULT_MAX_THREADS, await cpuCount());
    if (!f.threads) t = 1;
    const spinUs = spinMs === undefined ? undefined : Math.round(spinMs * 1000);
    const inst = await WasmInstance.create(f.threads ? "shared" : "own");
    const pool = t > 1 ? await ThreadPool.create(t, inst.module, inst.memory, spinUs) : null;
    return new WasmExecutor(inst, pool, t);
  }

  private live(): void {
    if (this.disposed) throw new Error("engine: this engine has been disposed");
  }

  alloc(n: number): Float32Array {
    this.live();
    return this.inst.f32(this.inst.alloc(n * 4), n);
  }

  free(buffer: Float32Array): boolean {
    this.live();
    return this.inst.owns(buffer) && this.inst.free(buffer.byteOffset);
  }

  supports(call: CallShape): true | string {
    return call.dtype === "float32" ? true : "its kernels are float32";
  }

  owns(x: ArrayBufferView): boolean {
    return this.inst.owns(x);
  }

  freed(x: ArrayBufferView): boolean {
    return this.inst.isMemory(x) && !this.inst.owns(x);
  }

  /**
   * Run a job over all its items: on this thread without a pool; else on the pool's workers, and
   * with `local` on this thread too (as thread `threads`, the last scratch row of the call).
   */
  private async run(job: Job, local = false): Promise<void> {
    if (this.pool === null) return this.runHere(job);
    this.live();
    const fault = this.fault;
    this.fault = undefined;
    await this.pool.run(job, fault, local ? (i0, i1) => runJob(this.inst, job, i0, i1, this.threads) : undefined);
  }

  /** Run a job on this thread alone (its scratch row is the call's last: the only one without a pool, the one after the workers' with one). */
  private async runHere(job: Job): Promise<void> {
    this.live();
    runJob(this.inst, job, 0, job.items, this.pool === null ? 0 : this.threads);
  }

  /** Where a float32 operand lies: its own address when it is a live block, else a copy's (freed by the caller). */
  private place(x: FloatArray, temps: number[]): number {
    if (x instanceof Float32Array && this.inst.owns(x)) return x.byteOffset;
    const p = this.inst.alloc(x.length * 4);
    temps.push(p);
    this.inst.f32(p, x.length).set(x);
    return p;
  }

  async crossEntropy(args: CrossEntropyArgs): Promise<CrossEntropyResult> {
    this.live();
    const { inst } = this;
    const { n, v, logits, gradOut, probs } = args;
    const size = n * v;
    const temps: number[] = [];
    let staged: Staged | null = null;
    try {
      const split = useVocabSplit(n, v) && !lmOnly(args.spec);
      const small = size <= VOCAB_SPLIT_LOCAL_MAX;
      if (split && this.pool !== null && (!small || performance.now() - this.lastCall < this.pool.spinUs / 1000)) this.pool.wake(true);
      const logitsPtr = this.place(logits, temps);
      let gradPtr = 0;
      const gradInPlace = gradOut instanceof Float32Array && inst.owns(gradOut);
      if (gradOut === logits) gradPtr = logitsPtr;
      else if (gradOut !== null && gradInPlace) gradPtr = gradOut.byteOffset;
      else if (gradOut !== null) {
        gradPtr = inst.alloc(size * 4);
        temps.push(gradPtr);
      }
      const probsPtr = probs instanceof Float32Array && inst.owns(probs) ? probs.byteOffset : 0;
      // One scratch row per worker, and one for this thread (which takes vocabulary slices too).
      staged = stage(inst, args, logitsPtr, gradPtr, this.pool === null ? 1 : this.threads + 1, probsPtr);
      // Few rows of a large vocabulary: the threads split the vocabulary instead of the rows.
      // This thread takes slices as well, beside one worker fewer, woken before the staging so
      // that they are awake for the job; a worker that wakes late leaves the slices to the others.
      // (Not with temperature ≠ 1, argmax or entropy: the slice kernels do not compute them.)
      // Up to VOCAB_SPLIT_LOCAL_MAX logits (0.1–0.3 ms of work) a wake-up costs more than a
      // worker saves, so a job takes the workers only when they are already awake and otherwise
      // runs here alone; they are woken above only when calls come back to back, for the next
      // call. The slices and their merge are the same either way, so is every bit.
      if (split) await vocabSplit(inst, (job) => (small && this.pool?.awake(true) !== true ? this.runHere(job) : this.run(job, true)), args, staged);
      else await this.run(rowsJob(staged, n));
      if (gradOut !== null && !gradInPlace) gradOut.set(inst.f32(gradPtr, size));
      const result = collect(inst, staged, args.spec);
      staged = null;
      return result;
    } finally {
      if (staged !== null) for (const p of staged.temps) inst.free(p);
      for (const p of temps) inst.free(p);
      this.lastCall = performance.now();
    }
  }

  async distillation(args: DistillationArgs): Promise<DistillationResult> {
    this.live();
    const { inst } = this;
    const { n, v, student, teacher, gradOut } = args;
    const size = n * v;
    const temps: number[] = [];
    let staged: StagedDistillation | null = null;
    try {
      const studentPtr = this.place(student, temps);
      const teacherPtr = this.place(teacher, temps);
      let gradPtr = 0;
      const gradInPlace = gradOut instanceof Float32Array && inst.owns(gradOut);
      if (gradOut === student) gradPtr = studentPtr;
      else if (gradOut !== null && gradInPlace) gradPtr = gradOut.byteOffset;
      else if (gradOut !== null) {
        gradPtr = inst.alloc(size * 4);
        temps.push(gradPtr);
      }
      staged = stageDistillation(inst, args, studentPtr, teacherPtr, gradPtr, this.threads);
      await this.run(distillationJob(staged, n));
      if (gradOut !== null && !gradInPlace) gradOut.set(inst.f32(gradPtr, size));
      const result = collectDistillation(inst, staged, args);
      staged = null;
      return result;
    } finally {
      if (staged !== null) for (const p of staged.temps) inst.free(p);
      for (const p of temps) inst.free(p);
    }
  }

  async linearCrossEntropy(args: LinearCrossEntropyArgs): Promise<LinearCrossEntropyResult> {
    this.live();
    const steps = linearCall(this.inst, args, this.threads);
    let s = steps.next();
    try {
      while (!s.done) {
        await this.run(s.value);
        s = steps.next();
      }
    } catch (e) {
      steps.throw(e); // runs the steps' cleanup (frees their buffers), then rethrows e
      throw e;
    }
    return s.value;
  }

  memoryStats(): MemoryStats {
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
