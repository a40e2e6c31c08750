/**
 * The thread pool's worker, as plain JavaScript source run by `new Worker(src, { eval: true })` in
 * Node and from a Blob URL in browsers: no file to resolve, nothing for tsx or a bundler to
 * transform. It instantiates the shared-memory kernel module over the engine's memory, then per
 * job claims chunks of items from an atomic counter and runs the job's kernel on them, with the
 * job's parameter struct (abi.ts).
 *
 * Messages in:  { type: "init", module, memory, control }
 *               { type: "run", id, worker, job, fault? }  (fault: test-only failure injection)
 * Messages out: { type: "ready" } | { type: "done", id } | { type: "error", id, message }
 */
export const workerSource = `"use strict";
const isNode = typeof process === "object" && process !== null && process.versions != null && process.versions.node != null;
let post;
let ex = null;
let counter = null;
function handle(msg) {
  if (msg.type === "init") {
    const inst = new WebAssembly.Instance(msg.module, { env: { memory: msg.memory } });
    ex = inst.exports;
    counter = new Int32Array(msg.control);
    post({ type: "ready" });
    return;
  }
  if (msg.type !== "run") return;
  if (msg.fault === "throw") throw new Error("injected worker fault");
  if (msg.fault === "exit") {
    if (isNode) process.exit(3);
    else self.close();
    return;
  }
  try {
    const j = msg.job;
    const scratch = j.scratch === 0 ? 0 : j.scratch + msg.worker * j.scratchStride;
    // Test-only: a wasm trap (an out-of-bounds read of a parameter struct, before any write).
    if (msg.fault === "trap") ex.crossEntropyRows(0xfffffff0, 0, 1, 0);
    for (;;) {
      const c = Atomics.add(counter, 0, 1);
      if (c >= j.chunks) break;
      const r0 = c * j.chunk;
      const r1 = Math.min(j.items, r0 + j.chunk);
      if (j.kernel === "crossEntropyRows") ex.crossEntropyRows(j.params, r0, r1, scratch);
      else if (j.kernel === "rowStats") ex.rowStats(j.params, r0, r1, scratch);
      else if (j.kernel === "sliceBackward") ex.sliceBackward(j.params, r0, r1, scratch);
      else if (j.kernel === "distillationRows") ex.distillationRows(j.params, r0, r1, scratch);
      else if (j.kernel === "linearLogits") ex.linearLogits(j.params, r0, r1);
      else ex.linearGrad(j.params, r0, r1);
    }
    post({ type: "done", id: msg.id });
  } catch (e) {
    post({ type: "error", id: msg.id, message: String((e && e.message) || e) });
  }
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
