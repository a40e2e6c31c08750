/**
 * distillationLoss: the divergence of a student's distribution from a teacher's, row by row
 * (KL, reverse KL, or the generalized JSD at temperature T, times T²), and its gradient with
 * respect to the student's logits from the same call. Formulas: docs/lm-outputs.md.
 */
import { backendFor } from "../backends/registry.js";
import type { CallShape, DistillationArgs, DistillationResult, FloatArray } from "../backends/types.js";
import type { DistillationOptions, DistillationOutput, LogitsInput } from "./options.js";
import { resolveDistillation, type ResolvedDistillation } from "./resolve.js";

/** What the registry is asked about a distillation call. */
export function distillationShape(r: Pick<ResolvedDistillation, "student" | "n" | "v" | "grad">): CallShape {
  return { kernel: "distillation", dtype: r.student instanceof Float32Array ? "float32" : "float64", n: r.n, v: r.v, d: 0, grad: r.grad };
}

/** Shape a kernel's result into the public output (float32 in, float32 out). */
export function distillationOutput(args: DistillationArgs, result: DistillationResult, grad: FloatArray | null): DistillationOutput {
  const f32 = args.student instanceof Float32Array;
  const out: DistillationOutput = { loss: args.spec.reduction === "none" ? (f32 ? Float32Array.from(result.rowLoss) : result.rowLoss) : result.loss };
  if (grad !== null) out.grad = grad;
  return out;
}

/**
 * Distillation loss of studentLogits (N, V) from teacherLogits (N, V): per token T²·D(P‖Q) with
 * Q = softmax(student/T) and P = softmax(teacher/T), D the KL (default), the reverse KL or the
 * generalized JSD; reduced by "batchmean" (default), "sum" or "none"; optionally the gradient
 * with respect to the student's logits.
 */
export function distillationLoss(studentLogits: Float32Array, teacherLogits: LogitsInput, options?: DistillationOptions): DistillationOutput<Float32Array>;
export function distillationLoss(studentLogits: Float64Array | readonly number[] | readonly (readonly number[])[], teacherLogits: LogitsInput, options?: DistillationOptions): DistillationOutput<Float64Array>;
export function distillationLoss(studentLogits: LogitsInput, teacherLogits: LogitsInput, options?: DistillationOptions): DistillationOutput;
export function distillationLoss(studentLogits: LogitsInput, teacherLogits: LogitsInput, options?: DistillationOptions): DistillationOutput {
  const fn = "distillationLoss";
  const r = resolveDistillation(fn, studentLogits, teacherLogits, options);
  const backend = backendFor(fn, r.backend, distillationShape(r));
  const x = r.student;
  let gradOut: FloatArray | null = null;
  if (r.grad) gradOut = r.inplace ? x : x instanceof Float32Array ? new Float32Array(r.n * r.v) : new Float64Array(r.n * r.v);
  const args: DistillationArgs = { student: x, teacher: r.teacher, n: r.n, v: r.v, target: r.target, spec: r.spec, gradOut };
  return distillationOutput(args, backend.distillation!(args), gradOut);
}
