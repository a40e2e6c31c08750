/**
 * The conformance matrix: every way a kernel can run (backend × synchronous or executor ×
 * threads × dtype), each row with its tolerance. The crossEntropy, linear head and edge-case
 * suites run every row against the float64 reference (itself checked against PyTorch in
 * test/backends/reference-vs-torch.test.ts). `XENT_CONFORMANCE_BACKEND=wasm` keeps the rows of
 * one backend (the relaxed-SIMD rerun uses it).
 */
import { after } from "node:test";
import {
  createEngine,
  crossEntropy,
  distillationLoss,
  init,
  linearCrossEntropy,
  type CrossEntropyOptions,
  type CrossEntropyOutput,
  type DistillationOptions,
  type DistillationOutput,
  type Engine,
  type LinearCrossEntropyOptions,
  type LinearCrossEntropyOutput,
  type MatrixInput,
  type TargetInput,
} from "../../src/index.js";
import assert from "node:assert/strict";
import { assertClose, type Tolerance } from "../helpers/close.js";

export type Dtype = "float32" | "float64";

export interface Row {
  backend: "reference" | "js" | "wasm";
  mode: "sync" | "executor";
  threads: number;
  dtypes: readonly Dtype[];
}

const ALL_ROWS: readonly Row[] = [
  { backend: "reference", mode: "sync", threads: 1, dtypes: ["float32", "float64"] },
  { backend: "js", mode: "sync", threads: 1, dtypes: ["float32", "float64"] },
  { backend: "wasm", mode: "sync", threads: 1, dtypes: ["float32"] }, // float32 kernels; float64 is an error there
  { backend: "js", mode: "executor", threads: 1, dtypes: ["float32", "float64"] },
  { backend: "wasm", mode: "executor", threads: 1, dtypes: ["float32", "float64"] }, // float64 runs where "auto" sends it
  { backend: "wasm", mode: "executor", threads: 2, dtypes: ["float32"] },
  { backend: "wasm", mode: "executor", threads: 3, dtypes: ["float32"] },
];

const only = process.env.XENT_CONFORMANCE_BACKEND;
export const MATRIX: readonly Row[] = ALL_ROWS.filter((r) => only === undefined || r.backend === only);

export const label = (r: Row): string => `${r.backend} ${r.mode}${r.mode === "executor" ? ` ${r.threads}t` : ""}`;

/**
 * crossEntropy's tolerance by dtype, the absolute part scaled by the largest finite |logit|:
 * float32 loss and lse within 2e-6 relative, gradient within 1e-6 + 1e-4·|g|; float64 rounding only.
 */
export function crossEntropyTolerance(dtype: Dtype, logits: ArrayLike<number>): { value: Tolerance; grad: Tolerance } {
  let maxAbs = 1;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (Number.isFinite(x)) maxAbs = Math.max(maxAbs, Math.abs(x));
  }
  return dtype === "float32"
    ? { value: { atol: 2e-6 * maxAbs, rtol: 2e-6 }, grad: { atol: 1e-6, rtol: 1e-4 } }
    : { value: { atol: 1e-12 * maxAbs, rtol: 1e-10 }, grad: { atol: 1e-12, rtol: 1e-9 } };
}

/** Compare one crossEntropy output with the reference's (`want`), for case `name` on logits `logits`. */
export function compareCrossEntropy(name: string, logits: ArrayLike<number>, got: CrossEntropyOutput, want: CrossEntropyOutput, dtype: Dtype): void {
  const tol = crossEntropyTolerance(dtype, logits);
  if (typeof want.loss === "number") assertClose(got.loss as number, want.loss, tol.value, `${name} loss`);
  else assertClose(got.loss as ArrayLike<number>, want.loss, tol.value, `${name} per-token loss`);
  assertClose(got.lse, want.lse, tol.value, `${name} lse`);
  assert.equal(got.grad === undefined, want.grad === undefined, `${name}: grad presence`);
  if (want.grad !== undefined) assertClose(got.grad!, want.grad, tol.grad, `${name} grad`);
}

/** The linear head's tolerance by dtype, scaled by the largest finite |value| of the quantity (float32 dot products). */
export function linearTolerance(dtype: Dtype, want: number | ArrayLike<number>): Tolerance {
  const a = typeof want === "number" ? [want] : want;
  let m = 1;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!)) m = Math.max(m, Math.abs(a[i]!));
  return dtype === "float32" ? { atol: 2e-5 * m, rtol: 1e-4 } : { atol: 1e-11 * m, rtol: 1e-10 };
}

/** How the suites run one row: the two kernels, and for executors the engine (zero-copy variants). */
export interface Runner {
  crossEntropy(logits: Float32Array | Float64Array, target: TargetInput, options: CrossEntropyOptions): Promise<CrossEntropyOutput>;
  linearCrossEntropy(hidden: MatrixInput, weight: MatrixInput, target: TargetInput, options: LinearCrossEntropyOptions): Promise<LinearCrossEntropyOutput>;
  distillationLoss(student: Float32Array | Float64Array, teacher: Float32Array | Float64Array, options: DistillationOptions): Promise<DistillationOutput>;
  /** The row's engine (executor rows only). */
  engine(): Promise<Engine> | null;
}

/** A runner for a row; an executor row's engine is created on first use and disposed after the file's tests. */
export function runnerFor(row: Row): Runner {
  if (row.mode === "sync") {
    let ready: Promise<boolean> | null = null;
    const setup = (): Promise<boolean> => (ready ??= row.backend === "wasm" ? init() : Promise.resolve(true));
    return {
      async crossEntropy(logits, target, options) {
        await setup();
        return crossEntropy(logits, target, { ...options, backend: row.backend });
      },
      async linearCrossEntropy(hidden, weight, target, options) {
        await setup();
        return linearCrossEntropy(hidden, weight, target, { ...options, backend: row.backend });
      },
      async distillationLoss(student, teacher, options) {
        await setup();
        return distillationLoss(student, teacher, { ...options, backend: row.backend });
      },
      engine: () => null,
    };
  }
  let engine: Promise<Engine> | null = null;
  const get = (): Promise<Engine> => (engine ??= createEngine({ backend: row.backend === "reference" ? "js" : row.backend, threads: row.threads }));
  after(async () => {
    if (engine !== null) (await engine).dispose();
  });
  return {
    crossEntropy: async (logits, target, options) => (await get()).crossEntropy(logits, target, options),
    linearCrossEntropy: async (hidden, weight, target, options) => (await get()).linearCrossEntropy(hidden, weight, target, options),
    distillationLoss: async (student, teacher, options) => (await get()).distillationLoss(student, teacher, options),
    engine: get,
  };
}
