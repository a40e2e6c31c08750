// Shared inputs for the wasm backend and engine tests: a grid of shapes and options, compared with
// the float64 reference kernel.
import assert from "node:assert/strict";
import type { CrossEntropyOptions, CrossEntropyOutput, TargetInput } from "../../../src/api/options.js";

import { rng } from "../../helpers/gen.js";

export { rng };

export interface Case {
  name: string;
  logits: Float32Array;
  target: TargetInput;
  options: CrossEntropyOptions;
}

/** Shapes (V across the SIMD width, the tail, and the online chunk of 2048) times options. */
export function gridCases(): Case[] {
  const out: Case[] = [];
  const shapes: [number, number][] = [[3, 1], [4, 3], [5, 4], [3, 5], [6, 8], [4, 17], [7, 64], [3, 2049], [2, 4099]];
  const optionSets: [string, (v: number, r: () => number) => CrossEntropyOptions][] = [
    ["plain", () => ({})],
    ["sum", () => ({ reduction: "sum" })],
    ["none", () => ({ reduction: "none" })],
    ["smoothing", () => ({ labelSmoothing: 0.1 })],
    ["weight", (v, r) => ({ weight: Array.from({ length: v }, () => 0.25 + 2 * r()) })],
    ["zloss", () => ({ zLoss: 1e-2 })],
    ["softcap", () => ({ softcap: 2.5 })],
    ["all", (v, r) => ({ labelSmoothing: 0.2, zLoss: 1e-3, softcap: 4, weight: Array.from({ length: v }, () => r()) })],
  ];
  let seed = 1;
  for (const [n, v] of shapes) {
    for (const [oname, make] of optionSets) {
      const r = rng(seed++);
      const logits = Float32Array.from({ length: n * v }, () => (r() * 2 - 1) * 6);
      const target = Array.from({ length: n }, (_, i) => (i === 1 ? -100 : Math.floor(r() * v)));
      out.push({ name: `${n}x${v} ${oname}`, logits, target, options: { classes: v, ...make(v, r) } });
      if (oname === "plain" || oname === "all") {
        const p = Float32Array.from({ length: n * v }, () => r());
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let j = 0; j < v; j++) s += p[i * v + j]!;
          for (let j = 0; j < v; j++) p[i * v + j]! /= s;
        }
        out.push({ name: `${n}x${v} ${oname} probs`, logits, target: { probs: p }, options: { classes: v, ...make(v, r) } });
      }
    }
  }
  return out;
}

/** Compare outputs: loss and lse within 2e-6 relative, the gradient within 1e-6 + 1e-4·|g|. */
export function assertMatches(got: CrossEntropyOutput, want: CrossEntropyOutput, label: string): void {
  const near = (a: number, b: number, atol: number, rtol: number): boolean =>
    (Number.isNaN(a) && Number.isNaN(b)) || a === b || Math.abs(a - b) <= atol + rtol * Math.abs(b);
  const gl = typeof got.loss === "number" ? [got.loss] : Array.from(got.loss);
  const wl = typeof want.loss === "number" ? [want.loss] : Array.from(want.loss);
  assert.equal(gl.length, wl.length, `${label}: loss length`);
  for (let i = 0; i < wl.length; i++) assert.ok(near(gl[i]!, wl[i]!, 1e-6, 2e-6), `${label}: loss[${i}] got ${gl[i]} want ${wl[i]}`);
  for (let i = 0; i < want.lse.length; i++) {
    assert.ok(near(got.lse[i]!, want.lse[i]!, 1e-6, 2e-6), `${label}: lse[${i}] got ${got.lse[i]} want ${want.lse[i]}`);
  }
  assert.equal(got.grad === undefined, want.grad === undefined, `${label}: grad presence`);
  if (want.grad !== undefined) {
    for (let i = 0; i < want.grad.length; i++) {
      assert.ok(near(got.grad![i]!, want.grad[i]!, 1e-6, 1e-4), `${label}: grad[${i}] got ${got.grad![i]} want ${want.grad[i]}`);
    }
  }
}
