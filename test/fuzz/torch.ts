/** Checks of public-API outputs against the PyTorch fixtures, shared by the non-finite tests. */
import assert from "node:assert/strict";
import type { CrossEntropyOptions, CrossEntropyOutput, TargetInput } from "../../src/index.js";
import { crossEntropyTolerance } from "../conformance/matrix.js";
import { assertClose } from "../helpers/close.js";
import type { FixtureCase } from "../helpers/fixtures.js";

type Input = Float32Array | Float64Array | number[];
type Run = (x: Input, t: TargetInput, o: CrossEntropyOptions) => CrossEntropyOutput | Promise<CrossEntropyOutput>;

/** Check one output against PyTorch's. */
export function checkAgainstTorch(label: string, c: FixtureCase, got: CrossEntropyOutput, f32: boolean, grad: boolean): void {
  const tol = crossEntropyTolerance(f32 ? "float32" : "float64", c.logits);
  if (c.want.loss !== null) assertClose(got.loss as number, c.want.loss, tol.value, `${label} loss`);
  else assertClose(got.loss as ArrayLike<number>, c.want.rowLoss, tol.value, `${label} per-token loss`);
  assertClose(got.lse, c.want.lse, tol.value, `${label} lse`);
  if (grad) assertClose(got.grad!, c.want.grad, tol.grad, `${label} grad`);
  else assert.equal(got.grad, undefined, `${label}: no gradient asked`);
}

/** Run a case on float32 (and, unless f32Only, float64 and number[]) input, with and without a gradient. */
export async function runCase(label: string, c: FixtureCase, run: Run, opts: { f32Only?: boolean } = {}): Promise<void> {
  const inputs: [string, () => Input, boolean][] = [["f32", () => new Float32Array(c.logits), true]];
  if (opts.f32Only !== true) inputs.push(["f64", () => Float64Array.from(c.logits), false], ["number[]", () => Array.from(c.logits), false]);
  for (const [kind, make, f32] of inputs) {
    for (const grad of [false, true]) {
      const got = await run(make(), c.target, { ...c.options, grad });
      checkAgainstTorch(`${label} ${c.name} [${kind}${grad ? ", grad" : ""}]`, c, got, f32, grad);
    }
  }
}

/** True when row i's max, NaN aside, is ±Infinity (without softcap): rows where SIMD max skips a NaN. */
export function infiniteMax(c: FixtureCase, i: number): boolean {
  if ((c.options.softcap ?? 0) > 0) return false;
  let m = -Infinity;
  for (let j = i * c.v; j < (i + 1) * c.v; j++) if (c.logits[j]! > m) m = c.logits[j]!;
  return m === Infinity || m === -Infinity;
}
