/**
 * The js backend against the reference, side by side in one run: GPT-2 size by default
 * (N=2048, V=50257, float32), forward alone and forward+backward (grad into a reused buffer).
 *
 *   npm run bench:core                       # N=2048 V=50257, 5 runs each
 *   npm run bench:core -- --n 256 --v 4096 --runs 3
 *
 * Prints median and min milliseconds per call and the ratio reference/js. Buffers are
 * allocated once and touched before timing (page faults of fresh buffers cost seconds here).
 */
import { parseArgs } from "node:util";
import os from "node:os";
import { crossEntropy } from "../src/index.js";

const { values } = parseArgs({
  options: { n: { type: "string", default: "2048" }, v: { type: "string", default: "50257" }, runs: { type: "string", default: "5" } },
});
const n = Number(values.n);
const v = Number(values.v);
const runs = Number(values.runs);

const logits = new Float32Array(n * v);
for (let i = 0; i < logits.length; i++) logits[i] = Math.sin(i * 0.618) * 4;
const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
const work = new Float32Array(n * v); // reused for inplace fwd+bwd, so no fresh N×V per call

function time(fn: () => void): { median: number; min: number } {
  fn(); // warm-up (JIT and page faults)
  const t: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return { median: t[Math.floor(t.length / 2)]!, min: t[0]! };
}

const rows: string[] = [];
const results: Record<string, { median: number; min: number }> = {};
for (const backend of ["js", "reference"]) {
  results[`${backend} fwd`] = time(() => {
    crossEntropy(logits, target, { classes: v, backend });
  });
  results[`${backend} fwd+bwd`] = time(() => {
    work.set(logits);
    crossEntropy(work, target, { classes: v, backend, grad: true, inplace: true });
  });
}
// the copy into `work` is part of the fwd+bwd rows above; measure it to subtract honestly
const copy = time(() => work.set(logits));
for (const [k, r] of Object.entries(results)) {
  const adj = k.endsWith("fwd+bwd") ? { median: r.median - copy.median, min: r.min - copy.min } : r;
  results[k] = adj;
  rows.push(`| ${k} | ${adj.median.toFixed(1)} | ${adj.min.toFixed(1)} |`);
}
const ratio = (a: string, b: string) => (results[a]!.median / results[b]!.median).toFixed(2);
console.log(`cross-entropy, N=${n} V=${v} float32, ${runs} runs after a warm-up; ${os.cpus()[0]?.model ?? "cpu"} x${os.cpus().length}, node ${process.version}`);
console.log("| backend, pass | median ms | min ms |\n|---|---|---|");
console.log(rows.join("\n"));
console.log(`reference / js: forward ${ratio("reference fwd", "js fwd")}x, forward+backward ${ratio("reference fwd+bwd", "js fwd+bwd")}x`);
