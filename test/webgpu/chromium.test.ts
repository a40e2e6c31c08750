/**
 * Smoke test of the webgpu backend in headless Chromium (Debian's /usr/bin/chromium, or
 * $CHROMIUM_PATH, via playwright-core, WebGPU through `navigator.gpu` with
 * --enable-unsafe-webgpu): the package's source bundled with esbuild, served from a localhost
 * server this test starts; `createEngine({ backend: "webgpu" })` runs a few conformance shapes
 * (vec4 and scalar rows, every option, probability targets, in place) and the results are
 * compared here with the float64 reference.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { crossEntropy, type CrossEntropyOptions, type CrossEntropyOutput } from "../../src/index.js";
import { conformanceCases } from "../conformance/cases.js";
import { compareCrossEntropy } from "../conformance/matrix.js";
import { assertClose } from "../helpers/close.js";
import { genTargets, genValues } from "../helpers/gen.js";
import { fromHalf, toHalf } from "../helpers/half.js";
import { withWebGpuPage } from "./browser.js";

interface Case {
  n: number;
  v: number;
  options: CrossEntropyOptions;
  probs: boolean;
}

const CASES: Case[] = [
  { n: 5, v: 16, options: { grad: true }, probs: false },
  { n: 7, v: 37, options: { grad: true, labelSmoothing: 0.1, zLoss: 1e-3, softcap: 4, reduction: "sum" }, probs: false },
  { n: 4, v: 12, options: { grad: true, inplace: true, reduction: "none" }, probs: true },
];

function inputs(c: Case, k: number): { x: number[]; t: number[] | { probs: number[] } } {
  const x = Array.from(genValues(c.n * c.v, 10 + k, 6), Math.fround);
  if (!c.probs) return { x, t: Array.from(genTargets(c.n, k + 1, c.v)) };
  const p = Array.from(genValues(c.n * c.v, 20 + k, 1), (a) => Math.abs(a));
  for (let i = 0; i < c.n; i++) {
    let s = 0;
    for (let j = 0; j < c.v; j++) s += p[i * c.v + j]!;
    for (let j = 0; j < c.v; j++) p[i * c.v + j] = Math.fround(p[i * c.v + j]! / s);
  }
  return { x, t: { probs: p } };
}

const SCRIPT = `
import { createEngine } from "/xent.js";
window.run = async (cases) => {
  const engine = await createEngine({ backend: "webgpu" });
  const out = [];
  for (const c of cases) {
    const x = new Float32Array(c.x);
    const t = Array.isArray(c.t) ? c.t : { probs: new Float32Array(c.t.probs) };
    const r = await engine.crossEntropy(x, t, { classes: c.v, ...c.options });
    out.push({ loss: typeof r.loss === "number" ? r.loss : Array.from(r.loss), lse: Array.from(r.lse), grad: Array.from(r.grad), inplace: r.grad === x });
  }
  engine.dispose();
  return out;
};
// float16 logits as a Float16Array (where the browser has one): bits in, gradient bits out
window.half = async (bits, t, v) => {
  if (typeof Float16Array === "undefined") return null;
  const engine = await createEngine({ backend: "webgpu" });
  const x = new Float16Array(Uint16Array.from(bits).buffer);
  const r = await engine.crossEntropy(x, t, { classes: v, grad: true });
  engine.dispose();
  return { loss: r.loss, lse: Array.from(r.lse), grad: Array.from(r.grad), bits: r.grad instanceof Uint16Array };
};
// one conformance case: with a gradient, without one, in place (float32 logits)
window.conform = async (c) => {
  window.engine ??= await createEngine({ backend: "webgpu" });
  const engine = window.engine;
  const t = Array.isArray(c.t) ? c.t : { probs: new Float32Array(c.t.probs) };
  const options = c.options.weight ? { ...c.options, weight: new Float64Array(c.options.weight) } : c.options;
  const pack = (r, x) => ({ loss: typeof r.loss === "number" ? r.loss : Array.from(r.loss), lse: Array.from(r.lse), grad: r.grad === undefined ? null : Array.from(r.grad), same: r.grad === x });
  const x = new Float32Array(c.x);
  const grad = pack(await engine.crossEntropy(x, t, { ...options, grad: true }), x);
  const noGrad = pack(await engine.crossEntropy(x, t, options), x);
  const untouched = Array.from(x);
  const inplace = pack(await engine.crossEntropy(x, t, { ...options, grad: true, inplace: true }), x);
  return { grad, noGrad, inplace, untouched };
};
window.ready = true;
`;

test("headless Chromium: createEngine({ backend: \"webgpu\" }) matches the reference", async () => {
  await withWebGpuPage('export { createEngine } from "./src/index.ts";', SCRIPT, async (open) => {
    const p: Page = await open();
    const sent = CASES.map((c, k) => ({ ...c, ...inputs(c, k) }));
    const got = await p.evaluate((cases) => (window as unknown as { run(c: unknown): Promise<{ loss: number | number[]; lse: number[]; grad: number[]; inplace: boolean }[]> }).run(cases), sent);
    const F32 = { value: { atol: 2e-6 * 6, rtol: 2e-6 }, grad: { atol: 1e-6, rtol: 1e-4 } };
    sent.forEach((c, k) => {
      const t = Array.isArray(c.t) ? c.t : { probs: Float64Array.from(c.t.probs) };
      const want = crossEntropy(Float64Array.from(c.x), t, { ...c.options, inplace: false, classes: c.v, backend: "reference" });
      const name = `case ${k} (${c.n}x${c.v})`;
      if (typeof want.loss === "number") assertClose(got[k]!.loss as number, want.loss, F32.value, `${name} loss`);
      else assertClose(got[k]!.loss as number[], want.loss, F32.value, `${name} per-token loss`);
      assertClose(got[k]!.lse, want.lse, F32.value, `${name} lse`);
      assertClose(got[k]!.grad, want.grad!, F32.grad, `${name} grad`);
      assert.equal(got[k]!.inplace, c.options.inplace === true, `${name}: inplace returns the logits`);
    });
    const [n, v] = [6, 40];
    const { bits, wide } = toHalf("float16", genValues(n * v, 30, 6));
    const t = Array.from(genTargets(n, 31, v));
    type Half = { loss: number; lse: number[]; grad: number[]; bits: boolean } | null;
    const half = await p.evaluate(([b, tt, vv]) => (window as unknown as { half(b: number[], t: number[], v: number): Promise<Half> }).half(b, tt, vv), [Array.from(bits), t, v] as const);
    if (half !== null) {
      const want = crossEntropy(wide, t, { classes: v, grad: true, backend: "reference" });
      assertClose(half.loss, want.loss, F32.value, "Float16Array loss");
      assertClose(half.lse, want.lse, F32.value, "Float16Array lse");
      assert.ok(half.bits, "the gradient of float16 logits is a Uint16Array of float16 bits");
      assertClose(fromHalf("float16", Uint16Array.from(half.grad)), fromHalf("float16", toHalf("float16", want.grad!).bits), { atol: 1e-6 + 2 ** -24, rtol: 1e-4 + 2 ** -10 }, "Float16Array grad");
    }
  });
});

test("headless Chromium: every crossEntropy conformance case on the webgpu engine (float32, with and without a gradient, in place)", async () => {
  await withWebGpuPage('export { createEngine } from "./src/index.ts";', SCRIPT, async (open) => {
    const p: Page = await open();
    type Out = { loss: number | number[]; lse: number[]; grad: number[] | null; same: boolean };
    const cases = conformanceCases();
    for (const c of cases) {
      const t = c.target;
      const flat = (rows: ArrayLike<number> | readonly (readonly number[])[]): number[] => Array.from(rows as ArrayLike<number | readonly number[]>).flatMap((r) => (typeof r === "number" ? [r] : Array.from(r)));
      const sent = {
        x: Array.from(c.logits),
        t: typeof t === "object" && "probs" in t ? { probs: flat(t.probs) } : Array.from(t as ArrayLike<number>),
        options: { ...c.options, ...(c.options.weight !== undefined ? { weight: Array.from(c.options.weight) } : {}) },
      };
      const got = await p.evaluate((cc) => (window as unknown as { conform(c: unknown): Promise<{ grad: Out; noGrad: Out; inplace: Out; untouched: number[] }> }).conform(cc), sent);
      const want = crossEntropy(c.logits, c.target, { ...c.options, grad: true, backend: "reference" });
      const wantNoGrad = crossEntropy(c.logits, c.target, { ...c.options, backend: "reference" });
      const out = (o: Out): CrossEntropyOutput => ({
        loss: typeof o.loss === "number" ? o.loss : Float64Array.from(o.loss),
        lse: Float64Array.from(o.lse),
        grad: o.grad === null ? undefined : Float64Array.from(o.grad),
      });
      compareCrossEntropy(`${c.name} [chromium]`, c.logits, out(got.grad), want, "float32");
      compareCrossEntropy(`${c.name} [chromium] no grad`, c.logits, out(got.noGrad), wantNoGrad, "float32");
      compareCrossEntropy(`${c.name} [chromium] inplace`, c.logits, out(got.inplace), want, "float32");
      assert.ok(got.inplace.same, `${c.name}: inplace returns the logits`);
      assertClose(got.untouched, new Float32Array(c.logits), { atol: 0, rtol: 0 }, `${c.name}: logits left untouched`);
    }
    assert.ok(cases.length > 100, `${cases.length} cases`);
  });
});
