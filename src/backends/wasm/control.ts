/**
 * The thread pool's control block: an Int32Array over a SharedArrayBuffer that the calling thread
 * and the workers share (pool.ts publishes jobs in it, workerSource.ts runs them). Word indices:
 */
export const CONTROL = {
  /** The current job's number (incremented for each job, after its fields below are written). */
  JOB: 0,
  /** The job whose items are all done and which no worker may join any more. */
  CLOSED: 1,
  /** Chunks claimed so far (the next chunk to claim). */
  CLAIM: 2,
  /** Chunks done so far. */
  DONE: 3,
  /** Kernels that threw or trapped in this job (each also sent as an "error" message). */
  ERRORS: 4,
  /** Nonzero while the calling thread waits for events: workers then send a "tick" on leaving a job. */
  WANT_MSG: 5,
  /** The job: kernel (an index of KERNEL_CODES), parameter struct, items, items per chunk, chunks, scratch base and stride. */
  KERNEL: 6,
  PARAMS: 7,
  ITEMS: 8,
  CHUNK: 9,
  CHUNKS: 10,
  SCRATCH: 11,
  SCRATCH_STRIDE: 12,
  /** Test-only failure for worker 0: 0 none, 1 throw, 2 exit, 3 trap. */
  FAULT: 13,
  /** How long a worker spins on its GO word before it sleeps in Atomics.wait, in microseconds. */
  SPIN_US: 14,
  /** The job's first BIG chunks have CHUNK items each; every later chunk has one item. */
  BIG: 15,
  /** Per worker w: GO + w is its wake-up word (incremented to wake it). */
  GO: 16,
  /** IN + w: 1 while worker w is inside a job. (GO, IN, FINISHED and SLEEPING each take MAX_WORKERS words.) */
  IN: 16 + 64,
  /** FINISHED + w: the last job worker w has left after taking part. */
  FINISHED: 16 + 128,
  /** SLEEPING + w: 1 while worker w sleeps in Atomics.wait (only a sleeper needs Atomics.notify). */
  SLEEPING: 16 + 192,
} as const;

/** The most workers a pool has (createEngine allows up to 64 threads). */
export const MAX_WORKERS = 64;
/** Words in the control block. */
export const CONTROL_WORDS = CONTROL.SLEEPING + MAX_WORKERS;

/** The kernels a job can run, by index (the KERNEL word); each is called (params, i0, i1, scratch). */
export const KERNEL_CODES = ["crossEntropyRows", "rowStats", "sliceBackward", "distillationRows", "linearLogits", "linearGrad"] as const;
