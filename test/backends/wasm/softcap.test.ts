// The softcap chain-rule factor 1 − tanh²(x/s) of the wasm kernel keeps its relative accuracy where
// tanh(x/s) rounds to ±1 in float32 (|x/s| ≳ 9): the gradient is checked against an independent
// float64 formula, dL/dx_j = (A·p_j − B_j) / cosh²(x_j/s), with relative tolerance, for index and
// unnormalised probability targets, fresh and in place, in the synchronous backend and the engine.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createEngine, crossEntropy, init, type Engine } from "../../../src/index.js";

const S = 5;
// x/s from 0 to 40 (both signs): float32 tanh is exactly ±1 from |x/s| ≈ 9 on, while
// 1/cosh² falls from 1 to 7e-35 (still a normal float32).
const U = [0, 0.5, -2, 4, -7, 8, -9, 10, -12, 15, -20, 25, -30, 40, -40];
const V = U.length;
const x = Float32Array.from(U, (u) => u * S);
const TARGET = 3;
// Unnormalised probability targets (sum 2), with mass on the extreme classes too.
const probs = Float32Array.from(U, (_, j) => (j % 3 === 0 ? 0.4 : 0.1) * (j === 0 ? 0.5 : 1));

/** The expected gradient of the summed loss in float64, from the float32 inputs. */
function want(p?: Float32Array): number[] {
  const u = Array.from(x, (xj) => xj / S);
  const c = u.map((uj) => S * Math.tanh(uj));
  const m = Math.max(...c);
  const sum = c.reduce((a, cj) => a + Math.exp(cj - m), 0);
  const a = p === undefined ? 1 : p.reduce((acc, t) => acc + t, 0);
  return c.map((cj, j) => {
    const pj = Math.exp(cj - m) / sum;
    const b = p === undefined ? (j === TARGET ? 1 : 0) : p[j]!;
    const ch = Math.cosh(u[j]!);
    return (a * pj - b) / (ch * ch);
  });
}

function check(got: ArrayLike<number>, expected: number[], label: string): void {
  for (let j = 0; j < expected.length; j++) {
    const w = expected[j]!;
    const g = got[j]!;
    const ok = Math.abs(g - w) <= 1e-5 * Math.abs(w) + 1e-44;
    assert.ok(ok, `${label}: gradient at class ${j} (x/s = ${U[j]}): got ${g}, want ${w} (relative error ${Math.abs(g - w) / Math.abs(w)})`);
  }
}

let engine: Engine;
before(async () => {
  assert.equal(await init(), true);
  engine = await createEngine({ backend: "wasm", threads: 2 });
});
after(() => engine.dispose());

test("wasm softcap gradient: relative accuracy of 1 − tanh²(x/s) up to |x/s| = 40", async () => {
  const cases = [
    { label: "index target", target: [TARGET], probs: undefined },
    { label: "unnormalised probability targets", target: { probs }, probs },
  ];
  for (const c of cases) {
    const expected = want(c.probs);
    const opts = { classes: V, softcap: S, grad: true, reduction: "sum" as const };
    const r = crossEntropy(x, c.target, { ...opts, backend: "wasm" });
    check(r.grad!, expected, `sync wasm, ${c.label}`);
    const own = x.slice();
    crossEntropy(own, c.target, { ...opts, backend: "wasm", inplace: true });
    check(own, expected, `sync wasm inplace, ${c.label}`);
    const e = await engine.crossEntropy(x, c.target, opts);
    check(e.grad!, expected, `engine, ${c.label}`);
  }
});
