/**
 * Host side of the wasm distillation kernel: stage the mask, the per-row losses and the
 * parameter struct (kernel/abi.ts, written by abi.ts) in wasm memory, run the kernel over rows,
 * and reduce the per-row losses in row order on the host. The (N, V) logits and the gradient are
 * placed by the caller: the executor passes engine memory (zero-copy); the sync backend streams
 * blocks of rows through two staging buffers and computes the gradient in the student's block.
 */
import { distillationCount, effectiveKind, reduceDistillation } from "../common.js";
import type { DistillationArgs, DistillationResult } from "../types.js";
import { DI_PARAMS_BYTES, runJob, writeDistillationParams, type DistillationParams, type Job } from "./abi.js";
import type { WasmInstance } from "./instance.js";

/** A staged call: its struct (at `ptr`), one float64 scratch row (V) per thread, the temporaries to free. */
export interface StagedDistillation {
  params: DistillationParams;
  ptr: number;
  scratch: number;
  temps: number[];
  count: number;
  n: number;
}

/** Stage everything but the logits and the gradient, and write the struct. */
export function stageDistillation(inst: WasmInstance, args: DistillationArgs, student: number, teacher: number, grad: number, threads: number): StagedDistillation {
  const { n, v, spec, target } = args;
  const temps: number[] = [];
  const take = (bytes: number): number => {
    const p = inst.alloc(bytes);
    temps.push(p);
    return p;
  };
  try {
    const ptr = take(DI_PARAMS_BYTES);
    const scratch = take(threads * v * 8);
    const rowLoss = take(n * 8);
    let mask = 0;
    if (target !== null) {
      mask = take(n * 4);
      inst.i32(mask, n).set(target);
    }
    const count = distillationCount(target, n);
    const params: DistillationParams = {
      beta: spec.beta,
      temperature: spec.temperature,
      gradScale: (spec.reduction === "batchmean" ? 1 / count : 1) * spec.temperature,
      student, teacher, grad, target: mask, rowLoss, v,
      kind: effectiveKind(spec),
    };
    writeDistillationParams(inst, ptr, params);
    return { params, ptr, scratch, temps, count, n };
  } catch (e) {
    for (const p of temps) inst.free(p);
    throw e;
  }
}

/** The job over `rows` rows of the struct as it now stands. */
export function distillationJob(s: StagedDistillation, rows: number): Job {
  return { kernel: "distillationRows", params: s.ptr, items: rows, scratch: s.scratch, scratchStride: s.params.v * 8 };
}

/** Read the per-row losses, reduce them in row order, and free the temporaries. */
export function collectDistillation(inst: WasmInstance, s: StagedDistillation, args: DistillationArgs): DistillationResult {
  const rowLoss = inst.f64(s.params.rowLoss, s.n).slice();
  for (const t of s.temps) inst.free(t);
  return { loss: reduceDistillation(rowLoss, args.spec.reduction, s.count), rowLoss };
}

/** Elements of each operand staged at once (8 MiB of float32 for the student, as much for the teacher). */
const BLOCK_ELEMENTS = 1 << 21;

/** The synchronous path for float32 logits from anywhere: O(block) extra memory, never N×V. */
export function distillationSync(inst: WasmInstance, args: DistillationArgs, blockElements = BLOCK_ELEMENTS): DistillationResult {
  const { n, v, student, teacher, gradOut } = args;
  const rows = Math.max(1, Math.min(n, Math.floor(blockElements / v)));
  const blocks: number[] = [];
  let staged: StagedDistillation | null = null;
  try {
    const sBlock = inst.alloc(rows * v * 4);
    blocks.push(sBlock);
    const tBlock = inst.alloc(rows * v * 4);
    blocks.push(tBlock);
    staged = stageDistillation(inst, args, sBlock, tBlock, gradOut !== null ? sBlock : 0, 1);
    const s = staged;
    for (let r0 = 0; r0 < n; r0 += rows) {
      const r1 = Math.min(n, r0 + rows);
      const len = (r1 - r0) * v;
      inst.f32(sBlock, len).set(student.subarray(r0 * v, r1 * v));
      inst.f32(tBlock, len).set(teacher.subarray(r0 * v, r1 * v));
      const p = s.params;
      writeDistillationParams(inst, s.ptr, { ...p, target: p.target === 0 ? 0 : p.target + r0 * 4, rowLoss: p.rowLoss + r0 * 8 });
      runJob(inst, distillationJob(s, r1 - r0), 0, r1 - r0);
      if (gradOut !== null) gradOut.set(inst.f32(sBlock, len), r0 * v);
    }
    const result = collectDistillation(inst, s, args);
    staged = null;
    return result;
  } finally {
    if (staged !== null) for (const p of staged.temps) inst.free(p);
    for (const p of blocks) inst.free(p);
  }
}
