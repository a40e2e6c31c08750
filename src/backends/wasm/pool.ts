/**
 * A pool of worker threads (worker_threads in Node, Web Workers in browsers) over one shared
 * WebAssembly.Memory. A job is one kernel over items [0, items) (abi.ts): items are split in fixed
 * chunks, which workers claim from an atomic counter; each item's results land at its own place,
 * and the host reduces per-row results in row order, so results are bitwise identical for any
 * thread count.
 *
 * Failure: a worker that throws, traps or exits fails the job with an Error naming the worker and
 * the cause, once every other worker has stopped touching memory; dead workers are replaced before
 * the next job. Nothing waits on a timer, so a failure never hangs a call.
 */
import type { Job } from "./abi.js";
import { isNode } from "../env.js";
import { workerSource } from "./workerSource.js";

/** Test-only failure injection for one worker of one job. */
export type WorkerFault = "throw" | "exit" | "trap";

interface WorkerMessage {
  type: "ready" | "done" | "error";
  id?: number;
  message?: string;
}

/** The little a pool needs from a Node or browser worker. */
interface WorkerHandle {
  post(msg: unknown): void;
  terminate(): void;
  /** Keep the Node process alive (true) while a job runs, or not (false) while idle. */
  hold(on: boolean): void;
}

type Listener = { message(m: WorkerMessage): void; failure(err: string): void };

async function spawn(listener: Listener): Promise<WorkerHandle> {
  if (isNode()) {
    const spec = "node:worker_threads";
    const { Worker } = (await import(spec)) as typeof import("node:worker_threads");
    const w = new Worker(workerSource, { eval: true });
    let failed = false;
    const fail = (why: string): void => {
      if (failed) return;
      failed = true;
      listener.failure(why);
    };
    w.on("message", (m: WorkerMessage) => listener.message(m));
    w.on("error", (e: Error) => fail(`threw ${e.message}`));
    w.on("exit", (code: number) => fail(`exited with code ${code}`));
    return {
      post: (m) => w.postMessage(m),
      terminate: () => {
        failed = true;
        void w.terminate();
      },
      hold: (on) => (on ? w.ref() : w.unref()),
    };
  }
  const url = URL.createObjectURL(new Blob([workerSource], { type: "text/javascript" }));
  const w = new Worker(url);
  URL.revokeObjectURL(url);
  let failed = false;
  w.onmessage = (e: MessageEvent<WorkerMessage>) => listener.message(e.data);
  w.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    if (failed) return;
    failed = true;
    listener.failure(`threw ${e.message}`);
  };
  return {
    post: (m) => w.postMessage(m),
    terminate: () => {
      failed = true;
      w.terminate();
    },
    hold: () => undefined,
  };
}

interface Slot {
  handle: WorkerHandle | null;
  ready: Promise<void>;
}

interface RunningJob {
  id: number;
  /** Workers that have not yet answered (done, error, or died). */
  waiting: Set<number>;
  errors: string[];
  settle(): void;
}

export class ThreadPool {
  private readonly slots: Slot[] = [];
  private readonly control = new SharedArrayBuffer(4);
  private running: RunningJob | null = null;
  private nextId = 1;
  private disposed = false;

  private constructor(
    readonly threads: number,
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
  ) {}

  static async create(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<ThreadPool> {
    const pool = new ThreadPool(threads, module, memory);
    for (let w = 0; w < threads; w++) pool.slots.push(pool.start(w));
    await Promise.all(pool.slots.map((s) => s.ready));
    return pool;
  }

  /** Start (or restart) worker w; `ready` settles when it has instantiated the module. */
  private start(w: number): Slot {
    const slot: Slot = { handle: null, ready: Promise.resolve() };
    slot.ready = new Promise<void>((resolve, reject) => {
      let isReady = false;
      const listener: Listener = {
        message: (m) => {
          if (m.type === "ready") {
            isReady = true;
            slot.handle?.hold(false);
            resolve();
          } else if (this.running !== null && m.id === this.running.id) {
            if (m.type === "error") this.running.errors.push(`worker ${w} failed: ${m.message ?? "unknown error"}`);
            this.finishOne(w);
          }
        },
        failure: (why) => {
          slot.handle = null;
          if (!isReady) {
            reject(new Error(`xent engine: worker ${w} failed to start: it ${why}`));
            return;
          }
          if (this.running !== null && this.running.waiting.has(w)) {
            this.running.errors.push(`worker ${w} ${why}`);
            this.finishOne(w);
          }
        },
      };
      spawn(listener).then((h) => {
        slot.handle = h;
        h.post({ type: "init", module: this.module, memory: this.memory, control: this.control });
      }, reject);
    });
    // A failed start must not be an unhandled rejection; run() awaits and reports it.
    slot.ready.catch(() => undefined);
    return slot;
  }

  private finishOne(w: number): void {
    const job = this.running!;
    if (!job.waiting.delete(w)) return;
    if (job.waiting.size === 0) job.settle();
  }

  /** Replace dead workers. */
  private async revive(): Promise<void> {
    for (let w = 0; w < this.threads; w++) {
      if (this.slots[w]!.handle === null) this.slots[w] = this.start(w);
    }
    await Promise.all(this.slots.map((s) => s.ready));
  }

  /**
   * Run a kernel call over all its items on every worker. `fault` (tests only) makes worker 0 fail.
   * With `local`, the calling thread claims chunks too, from the same counter, once the workers
   * have been posted the job: `local(i0, i1)` runs items [i0, i1) here (the caller gives it its
   * own scratch). Jobs must not overlap (the engine serialises calls).
   */
  async run(call: Job, fault?: WorkerFault, local?: (i0: number, i1: number) => void): Promise<void> {
    if (this.disposed) throw new Error("xent engine: the engine has been disposed");
    if (this.running !== null) throw new Error("xent engine: internal error, overlapping pool jobs");
    await this.revive();
    if (this.disposed) throw new Error("xent engine: the engine has been disposed");
    // Linear jobs' items are coarse and unequal (one is 1/64 of gradHidden), slice jobs' items
    // are vocabulary slices: one item per claim.
    const chunk = call.kernel === "crossEntropyRows" ? Math.max(1, Math.ceil(call.items / (this.threads * 8))) : 1;
    const job = { ...call, chunk, chunks: Math.ceil(call.items / chunk) };
    const counter = new Int32Array(this.control);
    Atomics.store(counter, 0, 0);
    const id = this.nextId++;
    await new Promise<void>((resolve, reject) => {
      this.running = {
        id,
        waiting: new Set(this.slots.map((_, w) => w)),
        errors: [],
        settle: () => {
          const errors = this.running!.errors;
          this.running = null;
          for (const s of this.slots) s.handle?.hold(false);
          if (errors.length === 0) resolve();
          else reject(new Error(`xent engine: ${call.kernel.startsWith("linear") ? "linearCrossEntropy" : "crossEntropy"} failed in the thread pool: ${errors.join("; ")}`));
        },
      };
      for (let w = 0; w < this.threads; w++) {
        const h = this.slots[w]!.handle!;
        h.hold(true);
        h.post({ type: "run", id, worker: w, job, fault: w === 0 ? fault : undefined });
      }
      // The workers' replies are events, handled only after this loop returns: the job cannot
      // settle while the calling thread still writes memory.
      if (local === undefined) return;
      try {
        for (;;) {
          const c = Atomics.add(counter, 0, 1);
          if (c >= job.chunks) break;
          local(c * chunk, Math.min(call.items, (c + 1) * chunk));
        }
      } catch (e) {
        this.running!.errors.push(`the calling thread failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  }

  /** Stop every worker; a job in flight fails (it does not hang). */
  terminate(): void {
    this.disposed = true;
    const job = this.running;
    if (job !== null) {
      job.errors.push("the engine was disposed during the call");
      job.waiting.clear();
      job.settle();
    }
    for (const s of this.slots) {
      s.handle?.terminate();
      s.handle = null;
    }
  }
}
