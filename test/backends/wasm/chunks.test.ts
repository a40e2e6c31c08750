// The wasm kernel reads a row in chunks of 2048 classes (without a gradient in one pass, with a
// running max). Rows where the running max grows in every chunk, starts at −Infinity (a fully
// masked first chunk), lies ~90 above earlier chunks (their exps below float32's normal range
// against the final max), or hides a NaN among −Infinity in a first chunk before a finite max
// (which the chunk's SIMD max skips: the loss must still be NaN), against the float64 reference,
// with each option that changes the row the kernel sees or the gradient's form, with and without
// the gradient, fresh and in place, on the synchronous backend and on a two-thread engine.
import { after, before, test } from "node:test";
import { createEngine, crossEntropy, init, type CrossEntropyOptions, type Engine } from "../../../src/index.js";
import { assertClose } from "../../helpers/close.js";

const C = 2048;
const V = 3 * C + 7;
const N = 5;
const x = new Float32Array(N * V);
let seed = 7;
const rand = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};
for (let j = 0; j < V; j++) {
  x[j] = j * 0.01 + rand(); // row 0: the running max grows in every chunk
  x[V + j] = j < C ? -Infinity : rand() * 8 - 4; // row 1: a fully masked first chunk
  x[2 * V + j] = (j < 2 * C ? -90 : 0) + rand() * 4; // row 2: two chunks ~90 below the max
  x[3 * V + j] = j < C ? -Infinity : rand() * 8 - 4; // row 3: a NaN among −Infinity, then finite
  x[4 * V + j] = rand() * 8 - 4; // row 4: plain
}
x[3 * V + 8] = NaN;
const target = [V - 1, C + 3, 5, C + 9, 2 * C + 1];
const probs = Float32Array.from({ length: N * V }, () => rand());

const OPTIONS: CrossEntropyOptions[] = [
  {},
  { softcap: 30 },
  { temperature: 0.7 },
  { labelSmoothing: 0.1, weight: Float64Array.from({ length: V }, (_, j) => 0.5 + (j % 7) / 7), zLoss: 1e-3 },
];
const LOSS = { atol: 0, rtol: 1e-5 };
const GRAD = { atol: 1e-6, rtol: 1e-4 };

let engine: Engine;
before(async () => {
  await init();
  engine = await createEngine({ backend: "wasm", threads: 2 });
});
after(() => engine.dispose());

test("wasm rows read in chunks: the gradient's per-chunk factors, −Infinity and NaN chunks, every option, fresh and in place", async () => {
  for (const options of OPTIONS) {
    for (const usesProbs of [false, true]) {
      if (usesProbs && options.weight !== undefined) continue; // index targets only with weights here
      const t = usesProbs ? { probs } : target;
      const common = { classes: V, reduction: "none" as const, entropy: true, argmax: true, ...options };
      const want = crossEntropy(Float64Array.from(x), t, { ...common, grad: true, backend: "reference" });
      const label = `${JSON.stringify({ ...options, weight: options.weight === undefined ? undefined : "w" })} ${usesProbs ? "probs" : "index"}`;
      const runs = [
        ["sync", crossEntropy(x, t, { ...common, grad: true, backend: "wasm" })],
        ["sync inplace", crossEntropy(x.slice(), t, { ...common, grad: true, inplace: true, backend: "wasm" })],
        ["engine", await engine.crossEntropy(x, t, { ...common, grad: true })],
        ["sync no grad", crossEntropy(x, t, { ...common, backend: "wasm" })],
      ] as const;
      for (const [name, got] of runs) {
        assertClose(got.loss, want.loss, LOSS, `${label} ${name} loss`);
        assertClose(got.lse, want.lse, LOSS, `${label} ${name} lse`);
        assertClose(got.entropy!, want.entropy!, { atol: 1e-6, rtol: 1e-5 }, `${label} ${name} entropy`);
        assertClose(got.argmax!, want.argmax!, { atol: 0, rtol: 0 }, `${label} ${name} argmax`);
        if (got.grad !== undefined) assertClose(got.grad, want.grad!, GRAD, `${label} ${name} grad`);
      }
    }
  }
});
