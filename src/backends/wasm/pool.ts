/**
 * A pool of worker threads (worker_threads in Node, Web Workers in browsers) over one shared
 * WebAssembly.Memory. A job is one kernel over items [0, items) (abi.ts): items are split in fixed
 * chunks, which the workers (and, for a `local` job, the calling thread) claim from an atomic
 * counter; each item's results land at its own place, and the host reduces per-row results in
 * row order, so results are bitwise identical for any thread count.
 *
 * Jobs are published in a shared control block (control.ts), not posted as messages: the calling
 * thread writes the job's fields, bumps the job number and wakes the workers it wants by their
 * own words (Atomics.notify). A worker spins on its word for SPIN_US after each job before it
 * sleeps in Atomics.wait, so jobs that follow each other closely (a few-rows call's statistics,
 * then its backward; back-to-back calls) find it awake: a message per job cost 80–90 µs of round
 * trip, a wake-up from Atomics.wait 20–400 µs on the 2-vCPU development machine, a spinning
 * worker about 1 µs. A worker joins a job only while it is open, and the calling thread closes it
 * once every chunk is done: a worker that is slow to wake leaves the work to the others instead
 * of delaying them (so a `local` job is never slower than the calling thread alone, bar the
 * wake-up calls). The calling thread of a `local` job spins (at most MAIN_SPIN_MS) for the last
 * chunks; otherwise, and after that, it waits for events: the workers then send a message when
 * they leave a job.
 *
 * Failure: a worker that throws, traps or exits fails the job with an Error naming the worker and
 * the cause, once every other worker has stopped touching memory; dead workers are replaced before
 * the next job. Nothing waits on a timer, so a failure never hangs a call.
 */
import type { Job } from "./abi.js";
import { isNode } from "../env.js";
import { CONTROL, CONTROL_WORDS, KERNEL_CODES } from "./control.js";
import { workerSource } from "./workerSource.js";

const { JOB, CLOSED, CLAIM, DONE, ERRORS, WANT_MSG, KERNEL, PARAMS, ITEMS, CHUNK, CHUNKS, BIG, SCRATCH, SCRATCH_STRIDE, FAULT, SPIN_US, GO, IN, FINISHED, SLEEPING } = CONTROL;

/** How long a worker spins for the next job before it sleeps (µs), by default: about OpenMP's idea of a short KMP_BLOCKTIME. */
const WORKER_SPIN_US = 1000;
/** How long the calling thread of a `local` job spins for the workers' last chunks before it waits for events (ms). */
const MAIN_SPIN_MS = 2;

/** Test-only failure injection for one worker of one job. */
export type WorkerFault = "throw" | "exit" | "trap";

const FAULT_CODES: Record<WorkerFault, number> = { throw: 1, exit: 2, trap: 3 };

interface WorkerMessage {
  type: "ready" | "error" | "tick";
  job?: number;
  message?: string;
}

/** The little a pool needs from a Node or browser worker. */
interface WorkerHandle {
  post(msg: unknown): void;
  terminate(): void;
  /** Keep the Node process alive (true) while the calling thread waits for a job's events, or not (false). */
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

/** Spin until `done()` or `ms` milliseconds have passed; true when done. */
function spin(done: () => boolean, ms: number): boolean {
  if (done()) return true;
  const until = performance.now() + ms;
  for (let i = 1; ; i++) {
    if (done()) return true;
    if ((i & 255) === 0 && performance.now() > until) return false;
  }
}

export class ThreadPool {
  private readonly slots: Slot[] = [];
  private readonly control = new SharedArrayBuffer(CONTROL_WORDS * 4);
  private readonly c = new Int32Array(this.control);
  /** The job in flight (0: none), its failures so far, and the workers that died in it. */
  private job = 0;
  private errors: string[] = [];
  private readonly dead = new Set<number>();
  /** Error messages received for the job in flight (the ERRORS word counts those sent). */
  private errorMessages = 0;
  /** Called on each worker event while the calling thread waits for events. */
  private waiter: (() => void) | null = null;
  private disposed = false;

  private constructor(
    readonly threads: number,
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    /** How long a worker spins after each job before it sleeps (µs). */
    readonly spinUs: number,
  ) {
    Atomics.store(this.c, SPIN_US, spinUs);
  }

  /** A pool of `threads` workers that spin `spinUs` µs after each job before they sleep. */
  static async create(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory, spinUs = WORKER_SPIN_US): Promise<ThreadPool> {
    const pool = new ThreadPool(threads, module, memory, spinUs);
    for (let w = 0; w < threads; w++) pool.slots.push(pool.start(w));
    await Promise.all(pool.slots.map((s) => s.ready));
    return pool;
  }

  /** Start (or restart) worker w; `ready` settles when it has instantiated the module. */
  private start(w: number): Slot {
    const slot: Slot = { handle: null, ready: Promise.resolve() };
    Atomics.store(this.c, IN + w, 0);
    slot.ready = new Promise<void>((resolve, reject) => {
      let isReady = false;
      const listener: Listener = {
        message: (m) => {
          if (m.type === "ready") {
            isReady = true;
            slot.handle?.hold(false);
            resolve();
            return;
          }
          if (m.type === "error" && m.job === this.job) {
            this.errors.push(`worker ${w} failed: ${m.message ?? "unknown error"}`);
            this.errorMessages++;
          }
          this.waiter?.();
        },
        failure: (why) => {
          slot.handle = null;
          if (!isReady) {
            reject(new Error(`xent engine: worker ${w} failed to start: it ${why}`));
            return;
          }
          if (this.job !== 0) {
            this.errors.push(`worker ${w} ${why}`);
            this.dead.add(w);
          }
          this.waiter?.();
        },
      };
      spawn(listener).then((h) => {
        slot.handle = h;
        h.post({ type: "init", module: this.module, memory: this.memory, control: this.control, worker: w });
      }, reject);
    });
    // A failed start must not be an unhandled rejection; run() awaits and reports it.
    slot.ready.catch(() => undefined);
    return slot;
  }

  /** Replace dead workers. */
  private async revive(): Promise<void> {
    for (let w = 0; w < this.threads; w++) {
      if (this.slots[w]!.handle === null) this.slots[w] = this.start(w);
    }
    await Promise.all(this.slots.map((s) => s.ready));
  }

  /** Workers that take part in a job: all, or all but one when the calling thread takes chunks too. */
  private participants(local: boolean): number {
    return local ? this.threads - 1 : this.threads;
  }

  /** Wake the first `workers` workers: a spinning one sees its word move, a sleeping one needs Atomics.notify. */
  private poke(workers: number): void {
    for (let w = 0; w < workers; w++) {
      Atomics.add(this.c, GO + w, 1);
      if (Atomics.load(this.c, SLEEPING + w) !== 0) Atomics.notify(this.c, GO + w, 1);
    }
  }

  /**
   * Wake the workers a coming job will use (`local`: as `run` with `local`), so that they are
   * spinning by the time it is published: call it before the work that precedes the job.
   */
  wake(local: boolean): void {
    if (!this.disposed && this.job === 0) this.poke(this.participants(local));
  }

  /**
   * True when the workers a job would use (`local`: as `run` with `local`) are awake: spinning
   * between jobs, not asleep in Atomics.wait. A hint for calls too short to wait for a wake-up; a
   * worker may fall asleep right after it is read, and the job is then done without it.
   */
  awake(local: boolean): boolean {
    if (this.disposed || this.job !== 0) return false;
    for (let w = 0; w < this.participants(local); w++) {
      if (this.slots[w]!.handle === null || Atomics.load(this.c, SLEEPING + w) !== 0) return false;
    }
    return true;
  }

  /** Wait until `done()`: spinning up to `spinMs`, then on the workers' events (ticks, errors, failures). */
  private async until(done: () => boolean, spinMs: number): Promise<void> {
    if (spin(done, spinMs)) return;
    Atomics.store(this.c, WANT_MSG, 1);
    for (const s of this.slots) s.handle?.hold(true);
    try {
      await new Promise<void>((resolve) => {
        this.waiter = () => {
          if (!done()) return;
          this.waiter = null;
          resolve();
        };
        this.waiter();
      });
    } finally {
      Atomics.store(this.c, WANT_MSG, 0);
      for (const s of this.slots) s.handle?.hold(false);
    }
  }

  /**
   * Run a kernel call over all its items. `fault` (tests only) makes worker 0 fail, and the job
   * waits for worker 0. With `local`, the calling thread claims chunks too, from the same counter,
   * once the workers have been woken: `local(i0, i1)` runs items [i0, i1) here (the caller gives
   * it its own scratch), and one worker fewer takes part. Jobs must not overlap (the engine
   * serialises calls).
   */
  async run(call: Job, fault?: WorkerFault, local?: (i0: number, i1: number) => void): Promise<void> {
    if (this.disposed) throw new Error("xent engine: the engine has been disposed");
    if (this.job !== 0) throw new Error("xent engine: internal error, overlapping pool jobs");
    await this.revive();
    if (this.disposed) throw new Error("xent engine: the engine has been disposed");
    const { c } = this;
    // Claim k covers items [r0, r1) (the same formula in workerSource.ts): the first `big` chunks
    // hold `chunk` items each, every later one a single item. Row jobs go in 8 chunks of rows per
    // thread; linear jobs' items are coarse and unequal (one is 1/64 of gradHidden) and slice jobs'
    // items are vocabulary slices: one item per claim; with affinity (abi.ts, Job.affinity) one
    // chunk of items/(2·threads) per thread, then single items.
    const { items } = call;
    let chunk = call.kernel === "crossEntropyRows" ? Math.max(1, Math.ceil(items / (this.threads * 8))) : 1;
    let big = Math.ceil(items / chunk);
    if (call.affinity === true) {
      chunk = Math.max(1, Math.floor(items / (2 * this.threads)));
      big = Math.min(this.threads, Math.floor(items / chunk));
    }
    const chunks = big + (items - Math.min(items, big * chunk));
    for (const [word, value] of [
      [CLAIM, 0], [DONE, 0], [ERRORS, 0], [KERNEL, KERNEL_CODES.indexOf(call.kernel)], [PARAMS, call.params], [ITEMS, items],
      [CHUNK, chunk], [CHUNKS, chunks], [BIG, big], [SCRATCH, call.scratch], [SCRATCH_STRIDE, call.scratchStride], [FAULT, fault === undefined ? 0 : FAULT_CODES[fault]],
    ] as const) {
      Atomics.store(c, word, value);
    }
    this.job = Atomics.add(c, JOB, 1) + 1;
    const job = this.job;
    this.errors = [];
    this.errorMessages = 0;
    this.dead.clear();
    try {
      this.poke(Math.max(this.participants(local !== undefined), fault === undefined ? 0 : 1));
      if (local !== undefined) {
        for (;;) {
          const k = Atomics.add(c, CLAIM, 1);
          if (k >= chunks) break;
          try {
            const r0 = k < big ? k * chunk : big * chunk + (k - big);
            local(r0, Math.min(items, k < big ? r0 + chunk : r0 + 1));
          } catch (e) {
            this.errors.push(`the calling thread failed: ${e instanceof Error ? e.message : String(e)}`);
          }
          Atomics.add(c, DONE, 1);
        }
      }
      // Every chunk done (and worker 0 through, when it was to fail), or a worker dead.
      const spinMs = local !== undefined ? MAIN_SPIN_MS : 0;
      await this.until(() => this.dead.size > 0 || (Atomics.load(c, DONE) >= chunks && (fault === undefined || Atomics.load(c, FINISHED) === job)), spinMs);
      // Close the job (no claims after a death), then wait until no live worker is inside it and
      // every error message has come (after a death, its error is enough).
      Atomics.store(c, CLOSED, job);
      if (this.dead.size > 0) Atomics.store(c, CLAIM, chunks);
      const quiet = (): boolean => {
        if (this.disposed) return true;
        for (let w = 0; w < this.threads; w++) {
          if (Atomics.load(c, IN + w) !== 0 && !this.dead.has(w) && this.slots[w]!.handle !== null) return false;
        }
        return this.dead.size > 0 || this.errorMessages === Atomics.load(c, ERRORS);
      };
      await this.until(quiet, spinMs);
    } finally {
      this.job = 0;
    }
    if (this.disposed && this.errors.length === 0) this.errors.push("the engine was disposed during the call");
    if (this.errors.length > 0) {
      throw new Error(`xent engine: ${call.kernel.startsWith("linear") ? "linearCrossEntropy" : "crossEntropy"} failed in the thread pool: ${this.errors.join("; ")}`);
    }
  }

  /** Stop every worker; a job in flight fails (it does not hang). */
  terminate(): void {
    this.disposed = true;
    for (let w = 0; w < this.threads; w++) {
      const s = this.slots[w]!;
      if (s.handle === null) continue;
      s.handle.terminate();
      s.handle = null;
      if (this.job !== 0) this.dead.add(w);
    }
    this.waiter?.();
  }
}
