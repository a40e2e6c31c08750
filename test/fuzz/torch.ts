/** Checks of public-API outputs against the PyTorch fixtures, shared by the non-finite tests. */
import assert from "node:assert/strict";
import type { CrossEntropyOptions, CrossEntropyOutput, TargetInput } from "../../src/index.js";
import { toleranceFor } from "../conformance/cases.js";
import { assertClose } from "../helpers/close.js";
import type { FixtureCase } from "../helpers/fixtures.js";
import { infiniteMaxRow } from "./gen.js";

type Input = Float32Array | Float64Array | number[];
type Run = (x: Input, t: TargetInput, o: CrossEntropyOptions) => CrossEntropyOutput | Promise<CrossEntropyOutput>;

/** Check one output against PyTorch's; `lseRows` limits the lse check to some rows. */
export function checkAgainstTorch(label: string, c: FixtureCase, got: CrossEntropyOutput, f32: boolean, grad: boolean, lseRows?: (i: number) => boolean): void {
  const tol = toleranceFor(f32, c.logits);
  if (c.want.loss !== null) assertClose(got.loss as number, c.want.loss, tol.value, `${label} loss`);
  else assertClose(got.loss as ArrayLike<number>, c.want.rowLoss, tol.value, `${label} per-token loss`);
  const rows = Array.from({ length: c.n }, (_, i) => i).filter((i) => lseRows === undefined || lseRows(i));
  assertClose(rows.map((i) => got.lse[i]!), rows.map((i) => c.want.lse[i]!), tol.value, `${label} lse`, rows);
  if (grad) assertClose(got.grad!, c.want.grad, tol.grad, `${label} grad`);
  else assert.equal(got.grad, undefined, `${label}: no gradient asked`);
}

/** Run a case on float32 (and, unless f32Only, float64 and number[]) input, with and without a gradient. */
export async function runCase(label: string, c: FixtureCase, run: Run, opts: { f32Only?: boolean; lseRows?: (i: number) => boolean } = {}): Promise<void> {
  const inputs: [string, () => Input, boolean][] = [["f32", () => new Float32Array(c.logits), true]];
  if (opts.f32Only !== true) inputs.push(["f64", () => Float64Array.from(c.logits), false], ["number[]", () => Array.from(c.logits), false]);
  for (const [kind, make, f32] of inputs) {
    for (const grad of [false, true]) {
      const got = await run(make(), c.target, { ...c.options, grad });
      checkAgainstTorch(`${label} ${c.name} [${kind}${grad ? ", grad" : ""}]`, c, got, f32, grad, opts.lseRows);
    }
  }
}

/** True when row i's max, NaN aside, is ±Infinity (without softcap): the open wasm lse bug's rows. */
export function infiniteMax(c: FixtureCase, i: number): boolean {
  return infiniteMaxRow(c.logits, c.v, i, c.options.softcap);
}
