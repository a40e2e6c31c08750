/**
 * The thread pool's worker, as plain JavaScript source run by `new Worker(src, { eval: true })` in
 * Node and from a Blob URL in browsers: no file to resolve, nothing for tsx or a bundler to
 * transform. It instantiates the shared-memory kernel module over the engine's memory, says
 * "ready", and from then on never returns to its event loop: it waits on its own word of the
 * control block (pool.ts, CONTROL), spinning a while before it sleeps in `Atomics.wait`, and runs
 * each job it is woken for. Jobs are published in the control block, not by message.
 *
 * Joining a job: the worker sets its IN flag, then checks that the job is still open (the calling
 * thread closes a job once every item is done, then waits until no IN flag is set): a worker that
 * wakes late finds the job closed and leaves without touching memory, so a sleeping worker never
 * delays a call. Inside, it claims chunks of items from the job's counter and counts each chunk
 * done; a kernel that throws or traps is reported by an "error" message (the chunk counts as
 * done so that nobody waits for it).
 *
 * Messages in:  { type: "init", module, memory, control, worker }
 * Messages out: { type: "ready" } | { type: "error", job, message } | { type: "tick" } (a state
 *               change, sent only while the calling thread waits for events: WANT_MSG)
 */
import { CONTROL, KERNEL_CODES } from "./control.js";

const consts = Object.entries(CONTROL)
  .map(([k, v]) => `const ${k} = ${v};`)
  .join("\n");

export const workerSource = `"use strict";
${consts}
const isNode = typeof process === "object" && process !== null && process.versions != null && process.versions.node != null;
let post;
function loop(ex, c, w) {
  const kernels = [${KERNEL_CODES.map((k) => `(p, a, b, s) => ex.${k}(p, a, b, s)`).join(", ")}];
  // Read before "ready": the calling thread publishes the next job only after that message.
  let seen = Atomics.load(c, GO + w);
  let lastJob = Atomics.load(c, JOB);
  post({ type: "ready" });
  for (;;) {
    let g = Atomics.load(c, GO + w);
    if (g === seen) {
      const until = performance.now() + Atomics.load(c, SPIN_US) / 1000;
      let i = 0;
      while ((g = Atomics.load(c, GO + w)) === seen) {
        if ((++i & 1023) === 0 && performance.now() > until) {
          // A wake-up bumps GO before it looks at SLEEPING: if it missed the flag, GO has moved
          // and the wait returns at once.
          Atomics.store(c, SLEEPING + w, 1);
          Atomics.wait(c, GO + w, seen);
          Atomics.store(c, SLEEPING + w, 0);
        }
      }
    }
    seen = g;
    const job = Atomics.load(c, JOB);
    if (job === lastJob) continue; // woken ahead of a job: spin again, for the job
    lastJob = job;
    Atomics.store(c, IN + w, 1);
    if (Atomics.load(c, CLOSED) === job || Atomics.load(c, JOB) !== job) {
      Atomics.store(c, IN + w, 0);
      if (Atomics.load(c, WANT_MSG) !== 0) post({ type: "tick" });
      continue;
    }
    const kernel = kernels[Atomics.load(c, KERNEL)];
    const params = Atomics.load(c, PARAMS), items = Atomics.load(c, ITEMS), chunk = Atomics.load(c, CHUNK), chunks = Atomics.load(c, CHUNKS), big = Atomics.load(c, BIG);
    const stride = Atomics.load(c, SCRATCH_STRIDE), base = Atomics.load(c, SCRATCH);
    const scratch = base === 0 ? 0 : base + w * stride;
    if (w === 0) {
      // Test-only failure injection (pool.ts, WorkerFault); the job waits for worker 0.
      const fault = Atomics.load(c, FAULT);
      if (fault === 1) throw new Error("injected worker fault");
      if (fault === 2) {
        if (isNode) process.exit(3);
        self.close();
        throw new Error("injected worker exit");
      }
      // a wasm trap: an out-of-bounds read of a parameter struct, before any write
      if (fault === 3) try { ex.crossEntropyRows(0xfffffff0, 0, 1, 0); } catch (e) { fail(c, job, e); }
    }
    for (;;) {
      const k = Atomics.add(c, CLAIM, 1);
      if (k >= chunks) break;
      // The first BIG chunks hold CHUNK items, later ones one item (the same formula as pool.ts's run).
      const r0 = k < big ? k * chunk : big * chunk + (k - big);
      try {
        kernel(params, r0, Math.min(items, k < big ? r0 + chunk : r0 + 1), scratch);
      } catch (e) {
        fail(c, job, e);
      }
      Atomics.add(c, DONE, 1);
    }
    Atomics.store(c, FINISHED + w, job);
    Atomics.store(c, IN + w, 0);
    if (Atomics.load(c, WANT_MSG) !== 0) post({ type: "tick" });
  }
}
function fail(c, job, e) {
  Atomics.add(c, ERRORS, 1);
  post({ type: "error", job, message: String((e && e.message) || e) });
}
function handle(msg) {
  if (msg.type !== "init") return;
  const inst = new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } });
  loop(inst.exports, new Int32Array(msg.control), msg.worker);
}
if (isNode) {
  const { parentPort } = require("node:worker_threads");
  post = (m) => parentPort.postMessage(m);
  parentPort.on("message", handle);
} else {
  post = (m) => self.postMessage(m);
  self.onmessage = (e) => handle(e.data);
}
`;
