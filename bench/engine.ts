/**
 * The engine benchmark (issue 3): xent's wasm engine at 1 and 2 threads against our js backend,
 * the synchronous (copying) wasm call, PyTorch's F.cross_entropy (Debian's python3-torch, glibc
 * malloc tuned and as shipped) and tf.losses.softmaxCrossEntropy on @tensorflow/tfjs-backend-wasm,
 * side by side in one run, at three sizes. Never part of `npm test`.
 *
 *   npm run bench                              # all sizes, 7 runs, writes bench/RESULTS.md
 *   npm run bench -- --quick                   # smoke check: char and GPT-2, 3 runs, prints only
 *   npm run bench -- --sizes gpt2 --runs 9 --no-tfjs --no-js
 *
 * Each figure is the median (and min) of RUNS timed calls after one warm-up; logits are filled
 * once (in engine memory for the engine: zero-copy). The engine and PyTorch (a server process per
 * configuration, bench/torch_server.py) are timed interleaved, call by call, so that the load of a
 * shared machine falls on both alike; the slower js, copying-wasm and tfjs figures are taken after.
 * "fwd+bwd" returns a fresh gradient (freed after each call); "inplace" writes it over the logits,
 * refilled outside the timed region.
 * Peak extra memory is what a fwd+bwd call holds beyond its inputs, at its peak: for the engine
 * the allocator's high-water mark; for PyTorch the peak RSS growth; for tfjs tf.profile's peakBytes.
 */
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { createEngine, crossEntropy, init, type Engine } from "../src/index.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    sizes: { type: "string" },
    runs: { type: "string" },
    "no-torch": { type: "boolean", default: false },
    "no-tfjs": { type: "boolean", default: false },
    "no-js": { type: "boolean", default: false },
    write: { type: "boolean" },
  },
});
const quick = values.quick!;
const SIZES: Record<string, [number, number]> = { char: [8192, 256], gpt2: [2048, 50257], llama3: [1024, 128256] };
const sizeNames = (values.sizes ?? (quick ? "char,gpt2" : "char,gpt2,llama3")).split(",");
for (const s of sizeNames) if (!(s in SIZES)) throw new RangeError(`bench: unknown size "${s}"; expected ${Object.keys(SIZES).join(", ")}`);
const runs = Number(values.runs ?? (quick ? 3 : 7));
const write = values.write ?? !quick;
const THREADS = [1, 2];
const TORCH = "/usr/bin/python3";
const MALLOC_TUNED = { MALLOC_MMAP_MAX_: "0", MALLOC_TRIM_THRESHOLD_: "100000000000" };

interface Stat {
  median: number;
  min: number;
}
interface Row {
  impl: string;
  threads: number;
  fwd?: Stat;
  fwdbwd?: Stat;
  extraBytes?: number;
  note?: string;
}

function stat(ts: number[]): Stat {
  const s = [...ts].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
}

/** Time `f` RUNS times after a warm-up; `prep` runs before each call, outside the timing. */
async function time(f: () => unknown, prep?: () => void, n = runs): Promise<Stat> {
  prep?.();
  await f();
  const ts: number[] = [];
  for (let r = 0; r < n; r++) {
    prep?.();
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  return stat(ts);
}

function fill(a: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 0.618) * 4;
}

function child(cmd: string, args: string[], env: Record<string, string> = {}): Record<string, unknown> | null {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 1 << 20, timeout: 30 * 60 * 1000 });
  const line = r.stdout?.trim().split("\n").at(-1);
  if (r.status !== 0 || line === undefined || line === "") {
    console.error(`bench: ${cmd} ${args.join(" ")} failed: ${r.stderr?.slice(-400) ?? r.error?.message}`);
    return null;
  }
  return JSON.parse(line) as Record<string, unknown>;
}

/** One implementation timed call by call: each method runs one call and returns its ms. */
interface Contender {
  row: Row;
  fwd(): Promise<number>;
  fwdbwd(): Promise<number>;
  close(): Promise<void>;
}

async function engineContenders(threads: number, n: number, v: number, orig: Float32Array, target: Int32Array): Promise<Contender[]> {
  const e: Engine = await createEngine({ backend: "wasm", threads });
  const x = e.alloc(n * v);
  x.set(orig);
  const timed = async (f: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    await f();
    return performance.now() - t0;
  };
  const step = async (): Promise<void> => {
    const r = await e.crossEntropy(x, target, { classes: v, grad: true });
    e.free(r.grad as Float32Array);
  };
  // Peak extra memory of one call of each kind, beyond what was allocated before it.
  e.resetPeakMemory();
  let base = e.memoryStats().bytesInUse;
  await step();
  const extra = e.memoryStats().peakBytes - base;
  e.resetPeakMemory();
  base = e.memoryStats().bytesInUse;
  await e.crossEntropy(x, target, { classes: v, grad: true, inplace: true });
  const extraInplace = e.memoryStats().peakBytes - base;
  x.set(orig);
  const fresh: Contender = {
    row: { impl: "xent wasm engine", threads, extraBytes: extra },
    fwd: () => timed(() => e.crossEntropy(x, target, { classes: v })),
    fwdbwd: () => timed(step),
    close: async () => undefined,
  };
  const inplace: Contender = {
    row: { impl: "xent wasm engine, inplace", threads, extraBytes: extraInplace },
    fwd: async () => Number.NaN,
    fwdbwd: async () => {
      x.set(orig);
      return timed(() => e.crossEntropy(x, target, { classes: v, grad: true, inplace: true }));
    },
    close: async () => {
      e.free(x);
      e.dispose();
    },
  };
  return [fresh, inplace];
}

async function torchContender(label: string, env: Record<string, string>, threads: number, n: number, v: number): Promise<Contender | null> {
  const p = spawn(TORCH, ["bench/torch_server.py", String(n), String(v), String(threads)], { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env } });
  const lines = createInterface({ input: p.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done === true) throw new Error(`bench: ${label} server ended`);
    return JSON.parse(r.value as string) as Record<string, unknown>;
  };
  const ask = async (cmd: string): Promise<Record<string, unknown>> => {
    p.stdin!.write(`${cmd}\n`);
    return next();
  };
  try {
    const hello = await next();
    const peak = (await ask("peak")).bytes as number;
    return {
      row: { impl: `${label} (torch ${String(hello.torch)})`, threads, extraBytes: peak },
      fwd: async () => (await ask("fwd")).ms as number,
      fwdbwd: async () => (await ask("fwdbwd")).ms as number,
      close: async () => {
        p.stdin!.end("quit\n");
        await new Promise((res) => p.once("exit", res));
      },
    };
  } catch (err) {
    console.error(`bench: ${label} failed: ${(err as Error).message}`);
    p.kill();
    return null;
  }
}

/** The engine and PyTorch, interleaved call by call, at each thread count. */
async function interleavedRows(n: number, v: number, orig: Float32Array, target: Int32Array): Promise<Row[]> {
  const rows: Row[] = [];
  const haveTorch = !values["no-torch"] && existsSync(TORCH) && spawnSync(TORCH, ["-c", "import torch"]).status === 0;
  if (!values["no-torch"] && !haveTorch) {
    rows.push({ impl: "PyTorch", threads: 0, note: "skipped: /usr/bin/python3 with torch is not installed (apt-get install python3-torch)" });
  }
  for (const threads of THREADS) {
    const cs: Contender[] = await engineContenders(threads, n, v, orig, target);
    if (haveTorch) {
      for (const [label, env] of [["PyTorch F.cross_entropy, malloc tuned", MALLOC_TUNED], ["PyTorch F.cross_entropy, as shipped", {}]] as const) {
        if (quick && label.endsWith("shipped")) continue;
        const c = await torchContender(label, env, threads, n, v);
        if (c === null) rows.push({ impl: label, threads, note: "failed" });
        else cs.push(c);
      }
    }
    const fwd = cs.map(() => [] as number[]);
    const bwd = cs.map(() => [] as number[]);
    for (let r = -1; r < runs; r++) {
      for (const [k, c] of cs.entries()) {
        const f = await c.fwd();
        if (r >= 0 && !Number.isNaN(f)) fwd[k]!.push(f);
      }
      for (const [k, c] of cs.entries()) {
        const b = await c.fwdbwd();
        if (r >= 0) bwd[k]!.push(b);
      }
    }
    for (const [k, c] of cs.entries()) {
      rows.push({ ...c.row, fwd: fwd[k]!.length > 0 ? stat(fwd[k]!) : undefined, fwdbwd: stat(bwd[k]!), note: "interleaved" });
      await c.close();
    }
  }
  return rows;
}

async function jsRows(n: number, v: number, orig: Float32Array, target: Int32Array): Promise<Row[]> {
  const rows: Row[] = [];
  const work = orig.slice();
  const r = Math.max(1, Math.min(runs, n * v > 1e7 ? 2 : runs));
  await init();
  // The synchronous wasm call copies logits in and the gradient out (blocks of rows).
  const sFwd = await time(() => crossEntropy(orig, target, { classes: v, backend: "wasm" }));
  const sBwd = await time(() => crossEntropy(work, target, { classes: v, grad: true, inplace: true, backend: "wasm" }), () => work.set(orig));
  rows.push({ impl: "xent wasm sync (copies), inplace", threads: 1, fwd: sFwd, fwdbwd: sBwd, extraBytes: Math.min(n, Math.floor((1 << 22) / v)) * v * 4 * 2, note: "two block buffers" });
  if (!values["no-js"] && !(quick && n * v > 1e7)) {
    const fwd = await time(() => crossEntropy(orig, target, { classes: v, backend: "js" }), undefined, r);
    const fwdbwd = await time(() => crossEntropy(work, target, { classes: v, grad: true, inplace: true, backend: "js" }), () => work.set(orig), r);
    rows.push({ impl: "xent js, inplace", threads: 1, fwd, fwdbwd, extraBytes: 0, note: `${r} runs` });
  }
  return rows;
}

function tfjsRows(n: number, v: number): Row[] {
  if (values["no-tfjs"]) return [];
  const r = String(n * v > 1e7 ? 2 : Math.min(runs, 3));
  const run = (rows: number): Record<string, unknown> | null => child(process.execPath, ["--import", "tsx", "bench/tfjs_ce.ts", String(rows), String(v), r]);
  let out = run(n);
  let scale = 1;
  let note = `${r} runs`;
  if (out === null || typeof out.error === "string") {
    // tfjs-backend-wasm's heap (2 GiB of signed 32-bit pointers) cannot hold this size: measure
    // N/8 rows and scale by 8 (the op is linear in N), and say so.
    const failed = String(out?.error ?? "see stderr");
    out = run(Math.ceil(n / 8));
    scale = n / Math.ceil(n / 8);
    note = `at N×V it fails (${failed}); measured at N=${Math.ceil(n / 8)} and scaled ×${scale.toFixed(0)}; ${r} runs`;
    if (out === null || typeof out.error === "string") {
      return [{ impl: "tfjs-backend-wasm softmaxCrossEntropy", threads: 1, note: `failed: ${failed}; at N/8: ${String(out?.error ?? "see stderr")}` }];
    }
  }
  const sc = (x: Stat): Stat => ({ median: x.median * scale, min: x.min * scale });
  return [
    { impl: `tfjs-backend-wasm ${String(out.tfjs)} softmaxCrossEntropy`, threads: 1, fwd: sc(out.fwd as Stat), fwdbwd: sc(out.fwdbwd as Stat), extraBytes: (out.peakExtraBytes as number) * scale, note },
    { impl: "tfjs-backend-wasm", threads: 2, note: "n/a: tfjs-backend-wasm has no threads in Node" },
  ];
}

const ms = (s?: Stat): string => (s === undefined ? "" : `${s.median.toFixed(1)} (${s.min.toFixed(1)})`);
const mb = (b?: number): string => (b === undefined ? "" : (b / 2 ** 20).toFixed(1));

function find(rows: Row[], prefix: string, threads: number): Row | undefined {
  return rows.find((r) => r.impl.startsWith(prefix) && r.threads === threads && r.fwdbwd !== undefined);
}

const out: string[] = [];
const say = (s = ""): void => {
  console.log(s);
  out.push(s);
};
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const machine = `${os.cpus().length} vCPU ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.type()} ${os.release()}`;
const load0 = os.loadavg()[0]!.toFixed(1);

for (const name of sizeNames) {
  const [n, v] = SIZES[name]!;
  const orig = new Float32Array(n * v);
  fill(orig);
  const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
  console.error(`bench: ${name} (${n}×${v})...`);
  const rows = [...(await interleavedRows(n, v, orig, target)), ...(await jsRows(n, v, orig, target)), ...tfjsRows(n, v)];
  const bytes = n * v * 4;
  say(`### ${name}: N=${n}, V=${v} (N·V·4 = ${mb(bytes)} MiB)`);
  say();
  say("| implementation | threads | fwd ms, median (min) | fwd+bwd ms, median (min) | fwd+bwd GB/s | peak extra MiB | note |");
  say("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const gbs = r.fwdbwd === undefined ? "" : ((2 * bytes) / (r.fwdbwd.median * 1e6)).toFixed(2);
    say(`| ${r.impl} | ${r.threads || ""} | ${ms(r.fwd)} | ${ms(r.fwdbwd)} | ${gbs} | ${mb(r.extraBytes)} | ${r.note ?? ""} |`);
  }
  say();
  const ratios: string[] = [];
  const ratio = (a?: Row, b?: Row): string =>
    a?.fwdbwd === undefined || b?.fwdbwd === undefined ? "n/a" : `${(a.fwdbwd.median / b.fwdbwd.median).toFixed(2)}× (min ${(a.fwdbwd.min / b.fwdbwd.min).toFixed(2)}×)`;
  for (const t of THREADS) {
    const w = find(rows, "xent wasm engine", t);
    ratios.push(`PyTorch tuned / wasm, ${t}t: ${ratio(find(rows, "PyTorch F.cross_entropy, malloc tuned", t), w)}`);
  }
  ratios.push(`wasm 1t / 2t: ${ratio(find(rows, "xent wasm engine", 1), find(rows, "xent wasm engine", 2))}`);
  ratios.push(`tfjs-wasm / wasm, 1t: ${ratio(find(rows, "tfjs-backend-wasm", 1), find(rows, "xent wasm engine", 1))}`);
  ratios.push(`js / wasm, 1t: ${ratio(find(rows, "xent js", 1), find(rows, "xent wasm engine", 1))}`);
  const e1 = find(rows, "xent wasm engine", 1);
  const e1i = find(rows, "xent wasm engine, inplace", 1);
  ratios.push(`wasm extra memory / (N·V·4): ${e1?.extraBytes === undefined ? "n/a" : (e1.extraBytes / bytes).toFixed(4)}; inplace: ${e1i?.extraBytes === undefined ? "n/a" : (e1i.extraBytes / bytes).toFixed(4)}`);
  say(`Ratios of fwd+bwd medians (targets: PyTorch tuned / wasm ≥ 2, 1t / 2t ≥ 1.8, tfjs / wasm ≥ 30, extra ≤ 1 and ~0 inplace): ${ratios.join("; ")}.`);
  say();
}
const load1 = os.loadavg()[0]!.toFixed(1);
say(`Machine: ${machine}; load average ${load0} at the start, ${load1} at the end (other jobs share the machine).`);

if (write) {
  const path = "bench/RESULTS.md";
  const heading = "## Engine: wasm SIMD, threads, zero-copy";
  const cmd = `npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const section = [heading, "", `\`${cmd}\`, ${runs} runs per figure (fewer where noted), on ${new Date().toISOString().slice(0, 10)}.`, "", ...out, ""].join("\n");
  let text = existsSync(path) ? readFileSync(path, "utf8") : "# Benchmark results\n\n";
  const at = text.indexOf(heading);
  if (at >= 0) {
    const next = text.indexOf("\n## ", at + heading.length);
    text = text.slice(0, at) + section + (next >= 0 ? text.slice(next + 1) : "");
  } else {
    text = `${text.trimEnd()}\n\n${section}`;
  }
  writeFileSync(path, text);
  console.error(`bench: wrote ${path}`);
}
