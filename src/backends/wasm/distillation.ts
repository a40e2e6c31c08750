/**
 * Host side of the wasm distillation kernel: write its parameter struct (kernel/distillationAbi.ts),
 * stage the mask and the per-row losses, stream the student's and the teacher's (N, V) float32
 * logits through wasm memory in blocks of rows, and reduce the per-row losses in row order on
 * the host. The gradient is computed in place in the student's block, then copied out.
 */
import { distillationCount, effectiveKind, reduceDistillation } from "../distillation.js";
import type { DistillationArgs, DistillationKind, DistillationResult } from "../distillation.js";
import type { WasmInstance } from "./instance.js";
import * as abi from "./kernel/distillationAbi.js";

const KIND_CODE: Record<DistillationKind, number> = { kl: abi.DI_KL, "reverse-kl": abi.DI_REVERSE_KL, jsd: abi.DI_JSD };

/** The struct's fields: the spec's scalars and where each array lies (0 for absent). */
export interface DistillationParams {
  beta: number;
  temperature: number;
  /** The gradient's factor: T, times 1/K for batchmean. */
  gradScale: number;
  student: number;
  teacher: number;
  grad: number;
  target: number;
  rowLoss: number;
  v: number;
  kind: DistillationKind;
}

/** Write distillationRows' struct at `ptr` (a block of abi.DI_PARAMS_BYTES). */
export function writeDistillationParams(inst: WasmInstance, ptr: number, p: DistillationParams): void {
  const m = new DataView(inst.buffer(), ptr, abi.DI_PARAMS_BYTES);
  m.setFloat64(abi.DI_BETA, p.beta, true);
  m.setFloat64(abi.DI_TEMPERATURE, p.temperature, true);
  m.setFloat64(abi.DI_GRAD_SCALE, p.gradScale, true);
  m.setUint32(abi.DI_STUDENT, p.student, true);
  m.setUint32(abi.DI_TEACHER, p.teacher, true);
  m.setUint32(abi.DI_GRAD, p.grad, true);
  m.setUint32(abi.DI_TARGET, p.target, true);
  m.setUint32(abi.DI_ROW_LOSS, p.rowLoss, true);
  m.setInt32(abi.DI_V, p.v, true);
  m.setInt32(abi.DI_KIND, KIND_CODE[p.kind], true);
}

/** Elements of each operand staged at once (8 MiB of float32 for the student, as much for the teacher). */
const BLOCK_ELEMENTS = 1 << 21;

/** The synchronous path for float32 logits from anywhere: O(block) extra memory, never N×V. */
export function distillationSync(inst: WasmInstance, args: DistillationArgs, blockElements = BLOCK_ELEMENTS): DistillationResult {
  const { n, v, spec, target } = args;
  const student = args.student as Float32Array;
  const teacher = args.teacher as Float32Array;
  const gradOut = args.gradOut as Float32Array | null;
  const count = distillationCount(target, n);
  const rows = Math.max(1, Math.min(n, Math.floor(blockElements / v)));
  const temps: number[] = [];
  const take = (bytes: number): number => {
    const p = inst.alloc(bytes);
    temps.push(p);
    return p;
  };
  try {
    const sBlock = take(rows * v * 4);
    const tBlock = take(rows * v * 4);
    const scratch = take(v * 8);
    const rowLoss = take(n * 8);
    const params = take(abi.DI_PARAMS_BYTES);
    const mask = target === null ? 0 : take(n * 4);
    if (target !== null) inst.i32(mask, n).set(target);
    const base: DistillationParams = {
      beta: spec.beta,
      temperature: spec.temperature,
      gradScale: (spec.reduction === "batchmean" ? 1 / count : 1) * spec.temperature,
      student: sBlock,
      teacher: tBlock,
      grad: gradOut !== null ? sBlock : 0,
      target: 0,
      rowLoss: 0,
      v,
      kind: effectiveKind(spec),
    };
    for (let r0 = 0; r0 < n; r0 += rows) {
      const r1 = Math.min(n, r0 + rows);
      const len = (r1 - r0) * v;
      inst.f32(sBlock, len).set(student.subarray(r0 * v, r1 * v));
      inst.f32(tBlock, len).set(teacher.subarray(r0 * v, r1 * v));
      writeDistillationParams(inst, params, { ...base, target: mask === 0 ? 0 : mask + r0 * 4, rowLoss: rowLoss + r0 * 8 });
      inst.exports.distillationRows(params, 0, r1 - r0, scratch);
      if (gradOut !== null) gradOut.set(inst.f32(sBlock, len), r0 * v);
    }
    const losses = inst.f64(rowLoss, n).slice();
    return { loss: reduceDistillation(losses, spec.reduction, count), rowLoss: losses };
  } finally {
    for (const p of temps) inst.free(p);
  }
}
