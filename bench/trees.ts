/**
 * The engine of two source trees side by side: fused cross-entropy forward+backward through the
 * public `createEngine` of each tree, interleaved call by call, so that the load of a shared
 * machine falls on both alike. Used to check that a refactoring costs no speed: run it with the
 * tree before the change (a `git worktree` of the old commit, with `npm ci` done) and this one.
 *
 *   node --import tsx bench/trees.ts OLD_TREE NEW_TREE [--rows 2048] [--v 50257] [--threads 1,2] [--runs 9]
 *
 * Each tree runs in its own child process (its own engine, logits in engine memory, a fresh
 * gradient freed after each call). Prints median and minimum ms per tree and the ratio.
 * Never part of `npm test`.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rows: { type: "string", default: "2048" },
    v: { type: "string", default: "50257" },
    threads: { type: "string", default: "1,2" },
    runs: { type: "string", default: "9" },
    child: { type: "boolean", default: false },
  },
});
const n = Number(values.rows);
const v = Number(values.v);

if (values.child) {
  // Child: positionals[0] is the tree, positionals[1] the thread count. One JSON line per "run".
  const [tree, threads] = positionals as [string, string];
  const xent = (await import(resolve(tree, "src/index.ts"))) as typeof import("../src/index.js");
  const engine = await xent.createEngine({ backend: "wasm", threads: Number(threads) });
  const x = engine.alloc(n * v);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.618) * 4;
  const target = Int32Array.from({ length: n }, (_, i) => (i * 7919) % v);
  const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  say({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() !== "run") break;
    const t0 = performance.now();
    const r = await engine.crossEntropy(x, target, { classes: v, grad: true });
    const ms = performance.now() - t0;
    if (r.grad instanceof Float32Array) engine.free(r.grad);
    say({ ms, loss: r.loss });
  }
  engine.dispose();
} else {
  const trees = positionals.map((p) => resolve(p));
  if (trees.length !== 2) throw new Error("usage: bench/trees.ts OLD_TREE NEW_TREE [options]");
  const runs = Number(values.runs);
  const stat = (xs: number[]): { median: number; min: number } => {
    const s = [...xs].sort((a, b) => a - b);
    return { median: s[Math.floor(s.length / 2)]!, min: s[0]! };
  };
  console.log(`Node ${process.version}; ${n} × ${v} fwd+bwd through createEngine; ${runs} interleaved runs after 2 warm-up; ms median (min)\n`);
  console.log("| threads | old | new | new / old (median, min) | losses equal |");
  console.log("|---|---|---|---|---|");
  for (const threads of values.threads.split(",")) {
    const kids = trees.map((t) => {
      const p = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "--child", t, threads, "--rows", String(n), "--v", String(v)], { cwd: t });
      const lines = createInterface({ input: p.stdout })[Symbol.asyncIterator]();
      return { p, next: async () => JSON.parse(((await lines.next()).value as string | undefined) ?? "null") as { ms: number; loss: number } };
    });
    for (const k of kids) await k.next(); // ready
    const times: number[][] = [[], []];
    const losses: number[] = [];
    const ask = async (k: { p: ChildProcessWithoutNullStreams; next: () => Promise<{ ms: number; loss: number }> }): Promise<{ ms: number; loss: number }> => {
      k.p.stdin.write("run\n");
      return k.next();
    };
    for (let r = 0; r < runs + 2; r++) {
      for (let t = 0; t < 2; t++) {
        const o = await ask(kids[t]!);
        if (r >= 2) times[t]!.push(o.ms);
        losses[t] = o.loss;
      }
    }
    for (const k of kids) k.p.stdin.end();
    const [a, b] = [stat(times[0]!), stat(times[1]!)];
    console.log(`| ${threads} | ${a.median.toFixed(1)} (${a.min.toFixed(1)}) | ${b.median.toFixed(1)} (${b.min.toFixed(1)}) | ${(b.median / a.median).toFixed(2)}× (${(b.min / a.min).toFixed(2)}×) | ${Math.abs(losses[0]! - losses[1]!) <= 1e-6 * Math.abs(losses[0]!) ? "yes" : `no: ${losses[0]} vs ${losses[1]}`} |`);
  }
}
