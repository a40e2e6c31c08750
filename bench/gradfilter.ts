/**
 * `gradFilter` of the fused linear head on a trained model's logits: the fraction of gradient
 * tiles skipped, the gradient error against the exact path, and the time of the filtered path
 * beside the exact one (`engine.linearCrossEntropy`, wasm, fwd+bwd, mean reduction).
 *
 * The data:
 *   trained  the tiny GPT of examples/tiny-gpt trained with GPT-2's tokenizer (V = 50257): its
 *            final hidden states (after the last layer norm) on N held-out tokens (windows of its
 *            context spread evenly over the validation split of the default corpus), its LM
 *            head's weight (V, D) and the next-token targets
 *   init     the same model at its initialisation (seed 1), on the same tokens: near-uniform logits
 *   random   hidden ~ U(−√3, √3), weight ~ U(−√(3/D), √(3/D)) (logits of standard deviation 1),
 *            uniform random targets, the trained model's N, D and V
 *
 * Thresholds τ: 0 (exact), 2⁻²⁰, 2⁻¹⁶, 2⁻¹⁴, 2⁻¹² (`gradFilter: true`). Every call uses the engine's
 * default chunk (rows = floor(4 MiB / (V·4)), passed as chunkSize so that the count below and the
 * kernel agree by construction). The kernel does not report what it skipped, so the skipped
 * tiles are counted here by the kernel's rule: per chunk and block of LIN_VB classes, whether
 * every |softmax − onehot| (before the mean's 1/N) is below τ; the count is checked against the
 * kernel's gradWeight (a block skipped in every chunk has zero rows, a block skipped in none has
 * rows bitwise equal to the exact path's). "Σ skipped |dL| per row" is the mean over rows of the
 * |softmax − onehot| the skipped tiles hold (the probability mass whose gradient is dropped).
 * Errors are against the exact path of the same engine;
 * "err/bound" is the largest |Δ| over the documented per-element bound (docs/linear.md):
 * τ·Σ_j|W[j][k]|/N for gradHidden, τ·Σ_i|hidden[i][k]|/N for gradWeight. Times are the median and
 * minimum of --runs calls after one warm-up call per threshold, the thresholds interleaved call by
 * call so that a shared machine's load falls on each alike. Never part of `npm test`.
 *
 * The checkpoint is not in the repository; make it first (about 15 minutes on 2 shared cores):
 *   npm run build && npx tiny-gpt train --tokenizer gpt2 --steps 500 --lr 0.01 --eval-every 100 --eval-batches 2 --sample-length 0 --out runs/gradfilter
 * then
 *   npm run bench:gradfilter [-- --checkpoint runs/gradfilter/checkpoint --tokens 2048 --runs 5 --threads 1,2 --data trained,init,random]
 */
import os from "node:os";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { setupTf } from "../examples/tiny-gpt/src/backend.js";
import { CheckpointError, disposeParams, loadCheckpoint } from "../examples/tiny-gpt/src/checkpoint.js";
import { evalBatches, loadDefaultCorpus, split } from "../examples/tiny-gpt/src/data.js";
import { headWeight, hiddenStates, initParams, type Params } from "../examples/tiny-gpt/src/model.js";
import { matmul } from "../src/backends/js/matmul.js";
import { LIN_VB } from "../src/backends/wasm/abi.js";
import { createEngine, type Engine } from "../src/index.js";
import { genTargets, genValues } from "../test/helpers/gen.js";

const { values } = parseArgs({
  options: {
    checkpoint: { type: "string", default: "runs/gradfilter/checkpoint" },
    tokens: { type: "string", default: "2048" },
    runs: { type: "string", default: "5" },
    threads: { type: "string", default: "1,2" },
    data: { type: "string", default: "trained,init,random" },
  },
});
const RUNS = Number(values.runs);
const THREADS = values.threads.split(",").map(Number);
const DATA = values.data.split(",");
const TAUS = [0, 2 ** -20, 2 ** -16, 2 ** -14, 2 ** -12];
const TAU_NAMES = ["0 (exact)", "2⁻²⁰", "2⁻¹⁶", "2⁻¹⁴", "2⁻¹² (true)"];
const MAKE =
  "npm run build && npx tiny-gpt train --tokenizer gpt2 --steps 500 --lr 0.01 --eval-every 100 --eval-batches 2 --sample-length 0 --out runs/gradfilter";

// ---- the model's hidden states, head and targets -------------------------------------------------

await setupTf("wasm");
let ckpt: ReturnType<typeof loadCheckpoint>;
try {
  ckpt = loadCheckpoint(values.checkpoint);
} catch (e) {
  if (!(e instanceof CheckpointError)) throw e;
  console.error(`bench/gradfilter.ts: ${e.message}; make it with: ${MAKE}`);
  process.exit(2);
}
const { config, tokenizer, meta } = ckpt;
const T = config.context;
const D = config.width;
const V = config.vocabSize;
const windows = Math.max(1, Math.round(Number(values.tokens) / T));
const N = windows * T;
const splits = split(tokenizer.encode(loadDefaultCorpus()), T);
const [batch] = evalBatches(splits.val, 1, windows, T);
const targetTrained = batch!.y;

/** Final hidden states (N, D) and head weight (V, D) of a model on the held-out windows. */
function modelData(params: Params): { hidden: Float32Array; weight: Float32Array } {
  const h = hiddenStates(config, params, batch!.x, windows, T);
  const hidden = h.dataSync() as Float32Array;
  h.dispose();
  return { hidden: Float32Array.from(hidden), weight: Float32Array.from(headWeight(config, params).dataSync() as Float32Array) };
}

/** Cross-entropy (nats) of the targets under add-one-smoothed unigram counts of the training split. */
function unigramLoss(target: Int32Array): number {
  const counts = new Float64Array(V);
  for (const t of splits.train) counts[t]! += 1;
  const total = splits.train.length + V;
  let s = 0;
  for (const t of target) s -= Math.log((counts[t]! + 1) / total);
  return s / target.length;
}

interface Problem {
  name: string;
  what: string;
  hidden: Float32Array;
  weight: Float32Array;
  target: Int32Array;
  unigram: number | null;
}
const problems: Problem[] = [];
for (const name of DATA) {
  if (name === "trained") {
    problems.push({ name, what: `the tiny GPT at step ${meta.step} (validation loss ${meta.valLoss?.toFixed(3) ?? "?"} when saved)`, ...modelData(ckpt.params), target: targetTrained, unigram: unigramLoss(targetTrained) });
  } else if (name === "init") {
    const p = initParams(config, 1);
    problems.push({ name, what: "the same model at initialisation (seed 1)", ...modelData(p), target: targetTrained, unigram: unigramLoss(targetTrained) });
    disposeParams(p);
  } else if (name === "random") {
    const hidden = Float32Array.from(genValues(N * D, 11, Math.sqrt(3)));
    const weight = Float32Array.from(genValues(V * D, 12, Math.sqrt(3 / D)));
    problems.push({ name, what: "random hidden and weight (logits of std 1), random targets", hidden, weight, target: genTargets(N, 13, V), unigram: null });
  } else {
    console.error(`bench/gradfilter.ts: --data ${name}; expected trained, init or random`);
    process.exit(2);
  }
}
disposeParams(ckpt.params);

// ---- the kernel's tiles: chunk rows × LIN_VB classes ---------------------------------------------

const R = Math.max(1, Math.min(N, Math.floor((4 * 1024 * 1024) / (V * 4)))); // the default memoryBudget's chunk
const nChunks = Math.ceil(N / R);
const nBlocks = Math.ceil(V / LIN_VB);
const nTiles = nChunks * nBlocks;

/** The largest |softmax − onehot| of each tile, (nChunks, nBlocks), before the mean's 1/N, and the sum of them. */
function tileMaxima(p: Problem): { max: Float64Array; sum: Float64Array } {
  const out = new Float64Array(nTiles);
  const sum = new Float64Array(nTiles);
  const logits = new Float32Array(R * V);
  for (let c = 0; c < nChunks; c++) {
    const r0 = c * R;
    const rows = Math.min(R, N - r0);
    matmul(rows, V, D, { data: p.hidden, off: r0 * D, rs: D, cs: 1 }, { data: p.weight, off: 0, rs: 1, cs: D }, { data: logits, off: 0, rs: V }, false);
    for (let i = 0; i < rows; i++) {
      const o = i * V;
      let mx = -Infinity;
      for (let j = 0; j < V; j++) mx = Math.max(mx, logits[o + j]!);
      let s = 0;
      for (let j = 0; j < V; j++) s += Math.exp(logits[o + j]! - mx);
      const lse = mx + Math.log(s);
      const y = p.target[r0 + i]!;
      for (let b = 0; b < nBlocks; b++) {
        const j1 = Math.min(V, (b + 1) * LIN_VB);
        let m = out[c * nBlocks + b]!;
        let a = 0;
        for (let j = b * LIN_VB; j < j1; j++) {
          const g = Math.abs(Math.exp(logits[o + j]! - lse) - (j === y ? 1 : 0));
          m = Math.max(m, g);
          a += g;
        }
        out[c * nBlocks + b] = m;
        sum[c * nBlocks + b]! += a;
      }
    }
  }
  return { max: out, sum };
}

/** Blocks whose gradWeight rows contradict the counted tiles (zero when skipped in every chunk, exact when in none). */
function checkAgainstKernel(maxima: Float64Array, tau: number, gw: Float32Array, exact: Float32Array): number {
  let bad = 0;
  for (let b = 0; b < nBlocks; b++) {
    let skipped = 0;
    for (let c = 0; c < nChunks; c++) if (maxima[c * nBlocks + b]! < tau) skipped++;
    const lo = b * LIN_VB * D;
    const hi = Math.min(V, (b + 1) * LIN_VB) * D;
    if (skipped === nChunks) {
      for (let k = lo; k < hi; k++) if (gw[k] !== 0) { bad++; break; }
    } else if (skipped === 0) {
      for (let k = lo; k < hi; k++) if (!Object.is(gw[k], exact[k])) { bad++; break; }
    }
  }
  return bad;
}

interface Err {
  maxAbs: number;
  relFro: number;
  overBound: number;
}
/** Errors of `got` against `exact` (rows × cols), the bound per column k being boundCol[k]. */
function errors(got: Float32Array, exact: Float32Array, cols: number, boundCol: Float64Array): Err {
  let maxAbs = 0;
  let d2 = 0;
  let e2 = 0;
  let overBound = 0;
  for (let k = 0; k < exact.length; k++) {
    const delta = Math.abs(got[k]! - exact[k]!);
    maxAbs = Math.max(maxAbs, delta);
    d2 += delta * delta;
    e2 += exact[k]! * exact[k]!;
    const bound = boundCol[k % cols]!;
    if (delta > 0) overBound = Math.max(overBound, delta / bound);
  }
  return { maxAbs, relFro: Math.sqrt(d2 / e2), overBound };
}

/** Σ over rows of |x[row][k]|, per column k. */
function colAbsSums(x: Float32Array, cols: number): Float64Array {
  const s = new Float64Array(cols);
  for (let k = 0; k < x.length; k++) s[k % cols]! += Math.abs(x[k]!);
  return s;
}

// ---- measure -------------------------------------------------------------------------------------

const stat = (xs: number[]): { median: number; min: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
};
const sci = (x: number): string => (x === 0 ? "0" : x.toExponential(2));
const pct = (x: number): string => `${(100 * x).toFixed(x > 0 && x < 0.001 ? 3 : 1)}%`;
const load = (): string => os.loadavg().map((x) => x.toFixed(1)).join(" ");

const engines: Engine[] = [];
for (const t of THREADS) engines.push(await createEngine({ backend: "wasm", threads: t }));
const loadStart = load();

interface Row {
  problem: Problem;
  loss: number;
  skipped: number[];
  dropped: number[];
  hiddenErr: Err[];
  weightErr: Err[];
  mismatched: number[];
  sameAcrossThreads: boolean;
  times: { median: number; min: number }[][]; // [engine][tau], seconds
}
const rows: Row[] = [];
for (const p of problems) {
  const { max: maxima, sum: sums } = tileMaxima(p);
  const skipped = TAUS.map((tau) => maxima.reduce((a, m) => a + (m < tau ? 1 : 0), 0) / nTiles);
  const dropped = TAUS.map((tau) => maxima.reduce((a, m, t) => a + (m < tau ? sums[t]! : 0), 0) / N);
  const hBound = colAbsSums(p.weight, D);
  const wBound = colAbsSums(p.hidden, D);
  const row: Row = { problem: p, loss: NaN, skipped, dropped, hiddenErr: [], weightErr: [], mismatched: [], sameAcrossThreads: true, times: [] };
  let first: { gh: Float32Array; gw: Float32Array }[] | null = null;
  for (const engine of engines) {
    const eh = engine.alloc(N * D);
    eh.set(p.hidden);
    const ew = engine.alloc(V * D);
    ew.set(p.weight);
    const call = async (tau: number): Promise<{ loss: number; gh: Float32Array; gw: Float32Array }> => {
      const out = await engine.linearCrossEntropy(eh, ew, p.target, { grad: true, chunkSize: R, gradFilter: tau });
      const gw = out.gradWeight as Float32Array;
      const res = { loss: out.loss, gh: out.gradHidden as Float32Array, gw: Float32Array.from(gw) };
      engine.free(gw);
      return res;
    };
    // Warm-up: one call per threshold, whose gradients give the errors.
    const outs = [];
    for (const tau of TAUS) outs.push(await call(tau));
    if (first === null) {
      first = outs;
      row.loss = outs[0]!.loss;
      const ex = outs[0]!;
      for (let k = 0; k < TAUS.length; k++) {
        const tau = TAUS[k]!;
        row.hiddenErr.push(errors(outs[k]!.gh, ex.gh, D, hBound.map((s) => (tau * s) / N)));
        row.weightErr.push(errors(outs[k]!.gw, ex.gw, D, wBound.map((s) => (tau * s) / N)));
        row.mismatched.push(tau === 0 ? 0 : checkAgainstKernel(maxima, tau, outs[k]!.gw, ex.gw));
      }
    } else {
      for (let k = 0; k < TAUS.length; k++) {
        const a = first[k]!;
        const b = outs[k]!;
        if (!a.gh.every((x, i) => Object.is(x, b.gh[i])) || !a.gw.every((x, i) => Object.is(x, b.gw[i]))) row.sameAcrossThreads = false;
      }
    }
    const times = TAUS.map(() => [] as number[]);
    for (let r = 0; r < RUNS; r++) {
      for (let k = 0; k < TAUS.length; k++) {
        const t0 = performance.now();
        const out = await engine.linearCrossEntropy(eh, ew, p.target, { grad: true, chunkSize: R, gradFilter: TAUS[k]! });
        times[k]!.push((performance.now() - t0) / 1000);
        engine.free(out.gradWeight as Float32Array);
      }
    }
    row.times.push(times.map(stat));
    engine.free(eh);
    engine.free(ew);
  }
  rows.push(row);
}
for (const e of engines) e.dispose();

// ---- print ---------------------------------------------------------------------------------------

console.log(`Node ${process.version}, ${os.cpus()[0]?.model ?? "cpu"} × ${os.availableParallelism()}, load ${loadStart} at the start, ${load()} at the end; ${RUNS} timed calls per figure after one warm-up`);
console.log(`N = ${N} tokens (${windows} held-out windows of ${T}), D = ${D}, V = ${V}; chunks of ${R} rows × ${LIN_VB} classes: ${nChunks} × ${nBlocks} = ${nTiles} tiles; fwd+bwd, mean\n`);
console.log("| data | what | loss (nats/token) | unigram | ln V |");
console.log("|---|---|---|---|---|");
for (const r of rows) {
  console.log(`| ${r.problem.name} | ${r.problem.what} | ${r.loss.toFixed(3)} | ${r.problem.unigram?.toFixed(3) ?? "-"} | ${Math.log(V).toFixed(3)} |`);
}
console.log("\nSkipped tiles and the gradient error against the exact path:\n");
console.log("| data | τ | tiles skipped | Σ skipped \\|dL\\| per row | gradHidden max abs err | rel. Frobenius | err/bound | gradWeight max abs err | rel. Frobenius | err/bound |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  for (let k = 1; k < TAUS.length; k++) {
    const h = r.hiddenErr[k]!;
    const w = r.weightErr[k]!;
    console.log(`| ${r.problem.name} | ${TAU_NAMES[k]} | ${pct(r.skipped[k]!)} | ${sci(r.dropped[k]!)} | ${sci(h.maxAbs)} | ${sci(h.relFro)} | ${sci(h.overBound)} | ${sci(w.maxAbs)} | ${sci(w.relFro)} | ${sci(w.overBound)} |`);
  }
}
console.log("\nTime of engine.linearCrossEntropy, fwd+bwd, seconds, median (min); the filtered path over the exact one by medians:\n");
console.log(`| data | τ | ${THREADS.map((t) => `threads: ${t} | vs exact`).join(" | ")} |`);
console.log(`|---|---|${THREADS.map(() => "---|---|").join("")}`);
for (const r of rows) {
  for (let k = 0; k < TAUS.length; k++) {
    const cells = r.times.map((ts) => `${ts[k]!.median.toFixed(3)} (${ts[k]!.min.toFixed(3)}) | ${(ts[k]!.median / ts[0]!.median).toFixed(2)}`);
    console.log(`| ${r.problem.name} | ${TAU_NAMES[k]} | ${cells.join(" | ")} |`);
  }
}
const bad = rows.flatMap((r) => r.mismatched.map((m, k) => (m > 0 ? `${r.problem.name} τ=${TAU_NAMES[k]}: ${m} blocks` : ""))).filter((s) => s !== "");
console.log(`\nCounted tiles against the kernel's gradWeight: ${bad.length === 0 ? "consistent" : `inconsistent (${bad.join("; ")})`}.`);
console.log(`Gradients at ${THREADS.join(" and ")} threads: ${rows.every((r) => r.sameAcrossThreads) ? "bitwise identical" : "DIFFERENT"}.`);
tf.disposeVariables();
