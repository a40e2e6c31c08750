/**
 * The wasm linear head's vocabulary blocks (src/backends/wasm/linearBlocks.ts) beyond the
 * conformance matrix (whose BLOCK_SHAPES take them): which calls take them, their memory against
 * the row chunks they replace, extreme values (whole blocks masked to −Infinity, ±1e4 logits, a
 * NaN row), and bitwise determinism across thread counts with probability targets and softcap.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createEngine, init, linearCrossEntropy, type LinearCrossEntropyOutput } from "../../src/index.js";
import { lossSpec } from "../../src/backends/common.js";
import { BLOCKS_BELOW_ROWS, linearLayout } from "../../src/backends/wasm/linearBlocks.js";
import { linearTolerance } from "../conformance/matrix.js";
import { BLOCK_CHUNKS, BLOCK_SHAPES } from "./cases.js";
import { assertClose, materialise, randomArray, rng, type LinearCase } from "./oracle.js";

const plain = { n: 29, d: 70, v: 1100, chunkRows: 3, spec: lossSpec(), gradFilter: 0, probs: null };

test("linearLayout: vocabulary blocks for thin row chunks, row chunks otherwise, within the row chunks' memory", () => {
  for (const [n, d, v] of BLOCK_SHAPES) {
    for (const chunk of BLOCK_CHUNKS) {
      const chunkRows = chunk.chunkSize as number;
      if (chunkRows >= BLOCKS_BELOW_ROWS) continue; // row chunks, with the packing buffer at 70 rows
      for (const probs of [null, new Float32Array(0)]) {
        const layout = linearLayout({ n, d, v, chunkRows, spec: lossSpec(), gradFilter: 0, probs });
        assert.equal(layout.kind, "blocks", `${n}×${d}×${v}, ${chunkRows}-row chunks${probs ? ", probabilities" : ""}`);
        if (layout.kind !== "blocks") continue;
        const per = probs ? 2 : 1;
        assert.ok(layout.rows > chunkRows && layout.rows <= n, `groups of ${layout.rows} rows`);
        assert.equal(layout.cols % 256, 0, "blocks of whole 256-class tiles");
        assert.ok(layout.rows * (layout.cols * per + d) <= chunkRows * (v * per + d), "no more memory than the row chunks");
      }
    }
  }
  // Llama-3's head at the default 4 MiB: 8-row chunks become groups of 256 rows × 1792 classes.
  assert.deepEqual(linearLayout({ ...plain, n: 1024, d: 2048, v: 128256, chunkRows: 8 }), { kind: "blocks", rows: 256, cols: 1792 });
  // GPT-2's head at the default 4 MiB: 20-row chunks stay row chunks.
  assert.deepEqual(linearLayout({ ...plain, n: 1024, d: 768, v: 50257, chunkRows: 20 }), { kind: "rows" });
  assert.equal(linearLayout({ ...plain, chunkRows: BLOCKS_BELOW_ROWS }).kind, "rows", "chunks wide enough");
  assert.equal(linearLayout({ ...plain, n: 3 }).kind, "rows", "one chunk holds every row");
  assert.equal(linearLayout({ ...plain, gradFilter: 1e-3 }).kind, "rows", "the gradient filter works on row chunks");
  for (const lm of [{ temperature: 0.5 }, { argmax: true }, { accuracy: true }, { entropy: true }]) {
    assert.equal(linearLayout({ ...plain, spec: lossSpec(lm) }).kind, "rows", `${JSON.stringify(lm)}: not in the slice kernels`);
  }
  assert.equal(linearLayout({ ...plain, d: 5000 }).kind, "rows", "a budget too small for a group of more rows than a chunk");
});

/**
 * The float32 tolerance, widened for large logits: a float32 logit x is rounded by up to 2⁻²⁴·|x|
 * (6e-4 at 1e4, whatever the scheme: the row chunks and the js backend err as much), and each
 * probability moves by as much relative to itself.
 */
function tolerance(want: number | ArrayLike<number>, logits: Float64Array): { atol: number; rtol: number } {
  let x = 0;
  for (const l of logits) if (Number.isFinite(l)) x = Math.max(x, Math.abs(l));
  const t = linearTolerance("float32", want);
  return { atol: t.atol * (1 + x * 2 ** -24 / 2e-5), rtol: t.rtol };
}

function compare(name: string, got: LinearCrossEntropyOutput, want: ReturnType<typeof materialise>): void {
  const tol = (w: number | ArrayLike<number>) => tolerance(w, want.logits);
  assertClose(got.loss, want.loss, tol(want.loss), `${name}: loss`);
  assertClose(got.lse, want.lse, tol(want.lse), `${name}: lse`);
  assertClose(got.gradHidden!, want.gradHidden, tol(want.gradHidden), `${name}: gradHidden`);
  assertClose(got.gradWeight!, want.gradWeight, tol(want.gradWeight), `${name}: gradWeight`);
  if (got.gradBias !== undefined) assertClose(got.gradBias, want.gradBias, tol(want.gradBias), `${name}: gradBias`);
}

test("vocabulary blocks: masked blocks, ±1e4 logits and a NaN row agree with the materialised path", async () => {
  assert.ok(await init());
  const n = 29, d = 70, v = 1100;
  const rand = rng(7);
  const hidden = randomArray(n * d, 1, rand, true) as Float32Array;
  const weight = randomArray(v * d, 0.3, rand, true) as Float32Array;
  const target = Array.from({ length: n }, (_, i) => (i * 37) % 256); // every target in the first tile
  // −Infinity on every class from 256 on (whole blocks and tiles masked), ±1e4 on a few.
  const masked = Array.from({ length: v }, (_, j) => (j >= 256 ? -Infinity : 0));
  const huge = Array.from({ length: v }, (_, j) => (j % 97 === 3 ? 1e4 : j % 89 === 5 ? -1e4 : 0));
  const nanHidden = hidden.slice();
  nanHidden[5 * d + 2] = NaN; // row 5's logits are all NaN
  const cases: LinearCase[] = [
    { name: "blocks masked to -Infinity", n, d, v, hidden, weight, target, options: { bias: masked, chunkSize: 3 } },
    { name: "±1e4 logits, softcap", n, d, v, hidden, weight, target, options: { bias: huge, chunkSize: 3, softcap: 30, labelSmoothing: 0.1 } },
    { name: "±1e4 logits", n, d, v, hidden, weight, target, options: { bias: huge, chunkSize: 15, zLoss: 1e-4 } },
    { name: "a NaN row", n, d, v, hidden: nanHidden, weight, target, options: { chunkSize: 3, reduction: "none" } },
  ];
  for (const c of cases) {
    assert.equal(linearLayout({ n, d, v, chunkRows: c.options.chunkSize as number, spec: lossSpec(), gradFilter: 0, probs: null }).kind, "blocks");
    const want = materialise(c);
    compare(`${c.name}, wasm`, linearCrossEntropy(c.hidden, c.weight, c.target, { ...c.options, grad: true, backend: "wasm" }), want);
    const e = await createEngine({ backend: "wasm", threads: 2 });
    try {
      compare(`${c.name}, engine`, await e.linearCrossEntropy(c.hidden, c.weight, c.target, { ...c.options, grad: true }), want);
    } finally {
      e.dispose();
    }
  }
  const nan = linearCrossEntropy(nanHidden, weight, target, { chunkSize: 3, reduction: "none", grad: true, backend: "wasm" });
  const rowLoss = nan.loss as Float32Array;
  assert.ok(Number.isNaN(rowLoss[5]!) && rowLoss.every((x, i) => i === 5 || Number.isFinite(x)), "the NaN stays in its row");
});

test("vocabulary blocks and packed products are bitwise identical on 1, 2 and 3 threads, probability targets and softcap included, and match the sync backend", async () => {
  assert.ok(await init());
  // 17 × 6 × 700: groups of 8 or 17 rows; 70 × 20 × 2000: groups of 70 rows and 64-row chunks, with packing.
  for (const [n, d, v, chunks] of [[17, 6, 700, [3, 15]], [70, 20, 2000, [15, 64]]] as const) {
    await determinism(n, d, v, chunks);
  }
});

async function determinism(n: number, d: number, v: number, chunks: readonly number[]): Promise<void> {
  const rand = rng(11);
  const hidden = randomArray(n * d, 1, rand, true) as Float32Array;
  const weight = randomArray(v * d, 1, rand, true) as Float32Array;
  const bias = randomArray(v, 0.5, rand, true) as Float32Array;
  const probs = new Float32Array(n * v);
  for (let i = 0; i < probs.length; i++) probs[i] = rand() < 0.1 ? rand() : 0;
  const targets = [{ probs }, Array.from({ length: n }, (_, i) => (i % 5 === 2 ? -100 : (i * 131) % v))];
  for (const target of targets) {
    for (const chunkSize of chunks) {
      const options = { grad: true, bias, softcap: 4, labelSmoothing: 0.05, zLoss: 0.01, chunkSize, classes: v } as const;
      const outs: LinearCrossEntropyOutput[] = [];
      for (const threads of [1, 2, 3]) {
        const e = await createEngine({ backend: "wasm", threads });
        try {
          outs.push(await e.linearCrossEntropy(hidden, weight, target, options));
        } finally {
          e.dispose();
        }
      }
      outs.push(linearCrossEntropy(hidden, weight, target, { ...options, backend: "wasm" }));
      const label = `${n}×${d}×${v}, ${Array.isArray(target) ? "index" : "probability"} targets, ${chunkSize}-row chunks`;
      for (let t = 1; t < outs.length; t++) {
        // scratchBytes counts one packing buffer per thread, so it alone may differ.
        assert.deepEqual({ ...outs[t]!, scratchBytes: 0 }, { ...outs[0]!, scratchBytes: 0 }, `${label}: run ${t} against 1 thread`);
      }
    }
  }
}
