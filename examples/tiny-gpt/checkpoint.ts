/**
 * Checkpoints: a folder with config.json (model config, tokenizer, training state) and
 * weights.bin (every parameter as little-endian float32, in paramShapes order). Written to a
 * temporary folder and renamed, so an interrupted save never leaves a half checkpoint.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { readCheckpointFile, type CheckpointMeta, type ConfigFile } from "./checkpoint-file.js";
import { paramShapes, type ModelConfig, type Params } from "./model.js";
import type { Tokenizer } from "./tokenizer.js";

export { CheckpointError, type CheckpointMeta } from "./checkpoint-file.js";

export function saveCheckpoint(dir: string, config: ModelConfig, params: Params, tok: Tokenizer, meta: CheckpointMeta): void {
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const shapes = paramShapes(config);
  const total = shapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
  const weights = new Float32Array(total);
  let off = 0;
  for (const [name] of shapes) {
    const data = params.get(name)!.dataSync() as Float32Array;
    weights.set(data, off);
    off += data.length;
  }
  const file: ConfigFile = {
    format: "xent-tiny-gpt/1",
    model: config,
    tokenizer: tok.toJSON(),
    meta,
    params: shapes.map(([name, shape]) => ({ name, shape })),
  };
  writeFileSync(join(tmp, "config.json"), JSON.stringify(file, null, 1) + "\n");
  writeFileSync(join(tmp, "weights.bin"), new Uint8Array(weights.buffer));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

export interface LoadedCheckpoint {
  config: ModelConfig;
  params: Params;
  tokenizer: Tokenizer;
  meta: CheckpointMeta;
}

/** Load a checkpoint as tfjs variables, after readCheckpointFile's checks. */
export function loadCheckpoint(dir: string, expectSize?: string): LoadedCheckpoint {
  const { config, tokenizer, meta, weights } = readCheckpointFile(dir, expectSize);
  const params: Params = new Map();
  let off = 0;
  for (const [name, shape] of paramShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(weights.subarray(off, off + size), shape);
    params.set(name, tf.variable(t)); // unnamed: tfjs variable names are global to the process
    t.dispose();
    off += size;
  }
  return { config, params, tokenizer, meta };
}

export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
}
