/**
 * What the outputs LM training reads beside the loss cost: `accuracy + entropy + argmax` against
 * the loss alone, side by side and interleaved in one run, at GPT-2 size by default
 * (N=2048, V=50257, float32), on the synchronous wasm and js backends, forward alone and
 * forward+backward (inplace into a reused buffer).
 *
 *   node --import tsx bench/lmoutputs.ts                        # N=2048 V=50257, 7 runs each
 *   node --import tsx bench/lmoutputs.ts --n 256 --v 4096 --runs 3 --backends js
 *   node --import tsx bench/lmoutputs.ts --outputs entropy      # one output's cost alone
 *
 * Prints median and min milliseconds per call and the extra time of the outputs (median and min
 * ratios). Buffers are allocated once and touched before timing.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { crossEntropy, init, type CrossEntropyOptions } from "../src/index.js";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "2048" },
    v: { type: "string", default: "50257" },
    runs: { type: "string", default: "7" },
    backends: { type: "string", default: "wasm,js" },
    outputs: { type: "string", default: "accuracy,entropy,argmax" },
  },
});
const n = Number(values.n);
const v = Number(values.v);
const runs = Number(values.runs);
await init();

const logits = new Float32Array(n * v);
for (let i = 0; i < logits.length; i++) logits[i] = Math.sin(i * 0.618) * 4;
const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
const work = new Float32Array(n * v); // inplace fwd+bwd target, reused

type Stat = { median: number; min: number };
const stat = (t: number[]): Stat => {
  const s = [...t].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
};

/** Time two variants interleaved (A B A B ...), after one warm-up call of each. */
function pair(a: () => void, b: () => void): [Stat, Stat] {
  a();
  b();
  const ta: number[] = [];
  const tb: number[] = [];
  for (let r = 0; r < runs; r++) {
    for (const [fn, t] of r % 2 === 0 ? ([[a, ta], [b, tb]] as const) : ([[b, tb], [a, ta]] as const)) {
      const t0 = performance.now();
      fn();
      t.push(performance.now() - t0);
    }
  }
  return [stat(ta), stat(tb)];
}

const OUTPUTS = ["accuracy", "entropy", "argmax"] as const;
const asked = values.outputs.split(",");
for (const o of asked) if (!(OUTPUTS as readonly string[]).includes(o)) throw new Error(`--outputs: unknown output "${o}"; expected some of ${OUTPUTS.join(", ")}`);
const outputs: CrossEntropyOptions = Object.fromEntries(asked.map((o) => [o, true]));
const lines: string[] = [];
const fmt = (x: number): string => x.toFixed(1);
for (const backend of values.backends.split(",")) {
  const base: CrossEntropyOptions = { classes: v, backend };
  const fwd = pair(
    () => crossEntropy(logits, target, base),
    () => crossEntropy(logits, target, { ...base, ...outputs }),
  );
  const bwd = pair(
    () => {
      work.set(logits);
      crossEntropy(work, target, { ...base, grad: true, inplace: true });
    },
    () => {
      work.set(logits);
      crossEntropy(work, target, { ...base, ...outputs, grad: true, inplace: true });
    },
  );
  for (const [what, [loss, all]] of [["forward", fwd], ["forward+backward", bwd]] as const) {
    const extra = (k: keyof Stat): string => `${(((all[k] - loss[k]) / loss[k]) * 100).toFixed(1)}%`;
    lines.push(`| ${backend} | ${what} | ${fmt(loss.median)} / ${fmt(loss.min)} | ${fmt(all.median)} / ${fmt(all.min)} | ${extra("median")} / ${extra("min")} |`);
  }
}

console.log(`N=${n} V=${v} float32, ${runs} interleaved runs each after a warm-up; Node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"} ×${os.cpus().length}, load ${os.loadavg()[0]!.toFixed(1)}`);
console.log("(forward+backward includes copying the logits into the reused inplace buffer, in both columns)");
console.log(`| backend | call | loss alone, ms (median / min) | + ${asked.join(", ")}, ms (median / min) | extra (median / min) |`);
console.log("|---|---|---|---|---|");
for (const l of lines) console.log(l);
