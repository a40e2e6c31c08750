/**
 * The engine of a git revision against the working tree's: both loaded in one process per Node
 * binary, each with its own engine, timed interleaved call by call (the order alternating), so
 * that a shared machine's load falls on both alike. Unlike bench/kernel_ab.mjs, this times the
 * whole call (api, staging, thread pool, merge), for changes outside the kernels.
 *
 *   node --import tsx bench/engine_ab.ts --ref main [--node <binaries, comma-separated>]
 *     [--shapes 1x128256,4x128256] [--threads 1] [--runs 1000] [--modes fwd,fresh]
 *   node --import tsx bench/engine_ab.ts --ref main --modes linear --shapes 1024x768x50257 --runs 3
 *
 * Modes: fwd (the loss only), fresh (with a new gradient, freed after each call), inplace (the
 * gradient over the logits, which are restored before each call, untimed); linear (the fused
 * linear head, forward and backward, shapes N×D×V, hidden and weight in engine memory, the
 * returned gradWeight freed after each call). The revision is
 * checked out in a temporary git worktree (node_modules linked from this checkout) and its wasm
 * built there; both must offer createEngine with alloc, free and crossEntropy. ms, median (min).
 * Never part of `npm test`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

interface Engine {
  alloc(n: number): Float32Array;
  free(x: Float32Array): boolean;
  crossEntropy(x: Float32Array, target: Int32Array, o: object): Promise<{ loss: unknown; grad?: unknown }>;
  linearCrossEntropy(h: Float32Array, w: Float32Array, target: Int32Array, o: object): Promise<{ loss: unknown; gradWeight?: unknown }>;
  dispose(): void;
}

const { values } = parseArgs({
  options: {
    ref: { type: "string", default: "main" },
    node: { type: "string" },
    shapes: { type: "string", default: "1x128256,4x128256" },
    threads: { type: "string", default: "1" },
    runs: { type: "string", default: "1000" },
    modes: { type: "string", default: "fwd,fresh" },
    child: { type: "string" },
  },
});
const root = resolve(import.meta.dirname, "..");
const stat = (xs: number[]): { median: number; min: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[s.length >> 1]!, min: s[0]! };
};

if (values.child !== undefined) {
  // Child: the revision at --child against this checkout, every shape and mode, one JSON line each.
  const mods = [await import(join(values.child, "src/index.ts")), await import(join(root, "src/index.ts"))];
  const threads = Number(values.threads);
  const engines: Engine[] = await Promise.all(mods.map((m) => m.createEngine({ backend: "wasm", threads })));
  const wave = (len: number, a: number, b: number): Float32Array => Float32Array.from({ length: len }, (_, i) => Math.sin(i * 0.37) * a + Math.sin(i * 0.0013) * b);
  /** Warm up, then time `call` on both engines interleaved (the order alternating); one JSON line. */
  const interleave = async (shape: string, mode: string, warmups: number, call: (k: number) => Promise<{ dt: number; loss: unknown }>): Promise<void> => {
    const times: number[][] = [[], []];
    const losses: unknown[] = [];
    const timed = async (k: number): Promise<void> => {
      const r = await call(k);
      times[k]!.push(r.dt);
      losses[k] = r.loss;
    };
    for (let r = 0; r < warmups; r++) for (const k of [0, 1]) await call(k);
    for (let r = 0; r < Number(values.runs); r++) for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) await timed(k);
    console.log(JSON.stringify({ node: process.version, shape, mode, ref: stat(times[0]!), work: stat(times[1]!), sameLoss: Object.is(losses[0], losses[1]) }));
  };
  for (const shape of values.shapes.split(",")) {
    const dims = shape.split("x").map(Number);
    if (dims.length === 3) {
      // The fused linear head: one call is seconds, so a single warm-up call each.
      const [n, d, v] = dims as [number, number, number];
      const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
      const hs = engines.map((e) => e.alloc(n * d));
      const ws = engines.map((e) => e.alloc(v * d));
      hs.forEach((h) => h.set(wave(n * d, 1, 1)));
      ws.forEach((w) => w.set(wave(v * d, 0.03, 0.03)));
      await interleave(shape, "linear", 1, async (k) => {
        const t0 = performance.now();
        const out = await engines[k]!.linearCrossEntropy(hs[k]!, ws[k]!, target, { grad: true });
        const dt = performance.now() - t0;
        engines[k]!.free(out.gradWeight as Float32Array);
        return { dt, loss: out.loss };
      });
      engines.forEach((e, k) => (e.free(hs[k]!), e.free(ws[k]!)));
      continue;
    }
    const [n, v] = dims as [number, number];
    const data = wave(n * v, 4, 3);
    const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
    const xs = engines.map((e) => e.alloc(n * v));
    for (const x of xs) x.set(data);
    for (const mode of values.modes.split(",")) {
      await interleave(shape, mode, 5, async (k) => {
        const e = engines[k]!;
        if (mode === "inplace") xs[k]!.set(data);
        const t0 = performance.now();
        const out = await e.crossEntropy(xs[k]!, target, { classes: v, grad: mode !== "fwd", inplace: mode === "inplace" });
        const dt = performance.now() - t0;
        if (mode === "fresh" && out.grad instanceof Float32Array) e.free(out.grad);
        return { dt, loss: out.loss };
      });
    }
    engines.forEach((e, k) => e.free(xs[k]!));
  }
  for (const e of engines) e.dispose();
} else {
  const tmp = mkdtempSync(join(tmpdir(), "xent-engine-ab-"));
  const dir = join(tmp, "ref");
  try {
    execFileSync("git", ["worktree", "add", "--detach", dir, values.ref], { cwd: root, stdio: "ignore" });
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
    execFileSync(process.execPath, ["scripts/build-wasm.mjs"], { cwd: dir, stdio: "ignore" });
    execFileSync(process.execPath, ["scripts/build-wasm.mjs"], { cwd: root, stdio: "ignore" });
    console.log(`engine ${values.ref} vs working tree, threads ${values.threads}, ${values.runs} interleaved calls each after a warm-up; ms median (min)\n`);
    console.log(`| Node | shape | pass | ${values.ref} | working tree | speed-up | same loss |`);
    console.log("|---|---|---|---|---|---|---|");
    for (const node of (values.node ?? process.execPath).split(",")) {
      const args = ["--import", "tsx", import.meta.filename, "--child", dir, "--shapes", values.shapes, "--threads", values.threads, "--runs", values.runs, "--modes", values.modes];
      const r = spawnSync(node, args, { cwd: root, encoding: "utf8" });
      if (r.status !== 0) {
        console.log(`| ${node} | failed: ${r.stderr.trim().split("\n").at(-1)} |`);
        continue;
      }
      for (const line of r.stdout.trim().split("\n")) {
        const o = JSON.parse(line);
        const f = (s: { median: number; min: number }): string => `${s.median.toFixed(3)} (${s.min.toFixed(3)})`;
        const x = `${(o.ref.median / o.work.median).toFixed(2)}× (${(o.ref.min / o.work.min).toFixed(2)}×)`;
        console.log(`| ${o.node} | ${o.shape} | ${o.mode} | ${f(o.ref)} | ${f(o.work)} | ${x} | ${o.sameLoss ? "yes" : "no"} |`);
      }
    }
  } finally {
    execFileSync("git", ["worktree", "remove", "--force", dir], { cwd: root, stdio: "ignore" });
    rmSync(tmp, { recursive: true, force: true });
  }
}
