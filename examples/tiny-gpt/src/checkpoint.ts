/**
 * Checkpoints with tfjs: save a model's variables (and, for `--resume`, the training state and
 * Adam's moments) and load them back. The files, their checks and the crash-safe replacement
 * are in checkpoint-file.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { CheckpointError, readCheckpointFile, writeCheckpointFiles, type CheckpointMeta, type ConfigFile, type SaveStep } from "./checkpoint-file.js";
import { paramShapes, type ModelConfig, type Params } from "./model.js";
import type { AdamState } from "./optim.js";
import type { Tokenizer } from "./tokenizer.js";

export { CheckpointError, type CheckpointMeta } from "./checkpoint-file.js";

/** What a training run adds to a checkpoint so it can be resumed: its own state and Adam's. */
export interface TrainingSnapshot {
  /** Written as state.json (with Adam's step count and running products). */
  state: object;
  adam: AdamState;
}

function flatWeights(config: ModelConfig, params: Params): Float32Array {
  const shapes = paramShapes(config);
  const weights = new Float32Array(shapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0));
  let off = 0;
  for (const [name] of shapes) {
    const data = params.get(name)!.dataSync() as Float32Array;
    weights.set(data, off);
    off += data.length;
  }
  return weights;
}

export function saveCheckpoint(dir: string, config: ModelConfig, params: Params, tok: Tokenizer, meta: CheckpointMeta, training?: TrainingSnapshot, onStep?: (step: SaveStep) => void): void {
  const file: ConfigFile = {
    format: "xent-tiny-gpt/1",
    model: config,
    tokenizer: tok.toJSON(),
    meta,
    params: paramShapes(config).map(([name, shape]) => ({ name, shape })),
  };
  const extra: Record<string, Uint8Array | string> = {};
  if (training !== undefined) {
    const { moments, ...adam } = training.adam;
    extra["state.json"] = JSON.stringify({ ...training.state, adam }) + "\n";
    extra["optimizer.bin"] = new Uint8Array(moments.buffer, moments.byteOffset, moments.byteLength);
  }
  writeCheckpointFiles(dir, file, flatWeights(config, params), extra, onStep);
}

export interface LoadedCheckpoint {
  config: ModelConfig;
  params: Params;
  tokenizer: Tokenizer;
  meta: CheckpointMeta;
  /** The folder read (`dir`, or `<dir>.tmp` / `<dir>.old` after an unfinished save). */
  path: string;
}

/** Load a checkpoint as tfjs variables, after readCheckpointFile's checks. */
export function loadCheckpoint(dir: string, expectSize?: string): LoadedCheckpoint {
  const { config, tokenizer, meta, weights, path } = readCheckpointFile(dir, expectSize);
  const params: Params = new Map();
  let off = 0;
  for (const [name, shape] of paramShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(weights.subarray(off, off + size), shape);
    params.set(name, tf.variable(t)); // unnamed: tfjs variable names are global to the process
    t.dispose();
    off += size;
  }
  return { config, params, tokenizer, meta, path };
}

/** The training state of a checkpoint folder (as found by loadCheckpoint): state.json and Adam's. */
export function readTrainingSnapshot(path: string): { state: Record<string, unknown>; adam: AdamState } {
  const statePath = join(path, "state.json");
  const optPath = join(path, "optimizer.bin");
  if (!existsSync(statePath) || !existsSync(optPath)) {
    throw new CheckpointError(`checkpoint ${JSON.stringify(path)} has no state.json and optimizer.bin, so it cannot be resumed; it was not written by tiny-gpt train of this version`);
  }
  let state: unknown;
  try {
    state = JSON.parse(readFileSync(statePath, "utf8"));
  } catch (e) {
    throw new CheckpointError(`checkpoint ${statePath} is not valid JSON (${(e as Error).message})`);
  }
  const adam = typeof state === "object" && state !== null && "adam" in state ? state.adam : undefined;
  if (typeof state !== "object" || state === null || typeof adam !== "object" || adam === null || !("iterations" in adam) || !("accBeta1" in adam) || !("accBeta2" in adam)) {
    throw new CheckpointError(`checkpoint ${statePath} has no optimiser state (adam.iterations, accBeta1, accBeta2)`);
  }
  const { iterations, accBeta1, accBeta2 } = adam;
  if (typeof iterations !== "number" || typeof accBeta1 !== "number" || typeof accBeta2 !== "number") throw new CheckpointError(`checkpoint ${statePath}: adam holds non-numbers`);
  const bytes = readFileSync(optPath);
  if (bytes.byteLength % 4 !== 0) throw new CheckpointError(`checkpoint ${optPath} holds ${bytes.byteLength} bytes; expected float32 values`);
  const moments = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { state: state as Record<string, unknown>, adam: { iterations, accBeta1, accBeta2, moments } };
}

export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
}
