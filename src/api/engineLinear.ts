/**
 * engine.linearCrossEntropy: the fused LM head + loss on the engine's wasm kernels and threads
 * (or the js kernel for the js engine and float64 input). Results equal linearCrossEntropy's.
 *
 * hidden and weight that are engine memory (from engine.alloc) are used where they lie; others
 * are copied in for the call. gradWeight is a new engine block when weight is engine memory
 * (free it with engine.free), else a plain Float32Array; gradHidden and gradBias are plain arrays.
 * Peak extra memory: the chunk buffers (about options.memoryBudget, plus R×D and O(N + V)),
 * and the copies of hidden and weight (and gradWeight's staging) when they are not engine memory.
 */
import { jsBackend } from "../backends/js/index.js";
import type { WasmInstance } from "../backends/wasm/instance.js";
import { jobSize, linearSteps, runItems, type LinearJob } from "../backends/wasm/linearCrossEntropy.js";
import type { ThreadPool } from "../backends/wasm/pool.js";
import type { LinearCrossEntropyArgs, LinearCrossEntropyResult } from "../backends/types.js";
import { finishLinearCrossEntropy, prepareLinearCrossEntropy } from "./linearCrossEntropy.js";
import type { LinearCrossEntropyOptions, LinearCrossEntropyOutput, MatrixInput, TargetInput } from "./options.js";
import { resolveLinear } from "./validateLinear.js";

const fn = "engine.linearCrossEntropy";

/** The js kernel, for the js engine and for float64 input. */
export function linearOnJs(hidden: MatrixInput, weight: MatrixInput, target: TargetInput, options?: LinearCrossEntropyOptions): LinearCrossEntropyOutput {
  const { args, f32 } = prepareLinearCrossEntropy(fn, hidden, weight, target, options);
  return finishLinearCrossEntropy(args, jsBackend.linearCrossEntropy!(args), f32);
}

/** The wasm kernels over the engine's memory, on its pool when it has one. */
export async function linearOnWasm(
  inst: WasmInstance,
  pool: ThreadPool | null,
  threads: number,
  hidden: MatrixInput,
  weight: MatrixInput,
  target: TargetInput,
  options?: LinearCrossEntropyOptions,
): Promise<LinearCrossEntropyOutput> {
  const r = resolveLinear(fn, hidden, weight, target, options);
  if (!r.f32) return linearOnJs(hidden, weight, target, options);
  const { n, d, v } = r;
  const grad = r.opts.grad;
  const h = r.hidden as Float32Array;
  const w = r.weight as Float32Array;
  const temps: number[] = [];
  let copied = 0;
  const place = (x: Float32Array): number => {
    if (inst.owns(x)) return x.byteOffset;
    const p = inst.alloc(x.length * 4);
    temps.push(p);
    copied += x.length * 4;
    inst.f32(p, x.length).set(x);
    return p;
  };
  const weightOwned = inst.owns(w);
  let gradW = 0;
  let keepGradW = false;
  try {
    const hPtr = place(h);
    const wPtr = place(w);
    if (grad) {
      gradW = inst.alloc(v * d * 4);
      if (weightOwned) keepGradW = true;
      else {
        temps.push(gradW);
        copied += v * d * 4;
      }
      inst.f32(gradW, v * d).fill(0);
    }
    const args: LinearCrossEntropyArgs = {
      hidden: h, weight: w, bias: r.bias, n, d, v, target: r.target, probs: r.probs,
      labelSmoothing: r.opts.labelSmoothing, classWeight: r.classWeight, zLoss: r.opts.zLoss, softcap: r.opts.softcap,
      reduction: r.opts.reduction, chunkRows: r.chunkRows, gradFilter: r.gradFilter,
      gradHidden: grad ? new Float32Array(n * d) : null,
      gradWeight: grad ? new Float32Array(0) : null, // lies at gradW in engine memory; set below
      gradBias: grad && r.bias !== null ? new Float32Array(v) : null,
    };
    const steps = linearSteps(inst, args, { hidden: hPtr, weight: wPtr, gradWeight: gradW }, threads);
    let result: LinearCrossEntropyResult;
    try {
      let s = steps.next();
      while (!s.done) {
        const job: LinearJob = s.value;
        if (pool !== null) await pool.run(job.kind === "ce" ? job.call : job);
        else runItems(inst, job, 0, jobSize(job));
        s = steps.next();
      }
      result = s.value;
    } catch (e) {
      steps.return(undefined as never); // frees the chunk buffers
      throw e;
    }
    const gw = grad ? (weightOwned ? inst.f32(gradW, v * d) : inst.f32(gradW, v * d).slice()) : null;
    keepGradW = false;
    return finishLinearCrossEntropy({ ...args, gradWeight: gw }, { ...result, scratchBytes: result.scratchBytes + copied }, true);
  } catch (e) {
    if (keepGradW) inst.free(gradW);
    throw e;
  } finally {
    for (const p of temps) inst.free(p);
  }
}
