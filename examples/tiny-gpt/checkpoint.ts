/**
 * Checkpoints: a folder with config.json (model config, tokenizer, training state), and
 * weights.bin (every parameter as little-endian float32, in paramShapes order). Written to a
 * temporary folder and renamed, so an interrupted save never leaves a half checkpoint.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { paramShapes, SIZES, type ModelConfig, type Params } from "./model.js";
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from "./tokenizer.js";

export interface CheckpointMeta {
  step: number;
  seed: number;
  valLoss?: number;
}

interface ConfigFile {
  format: "xent-tiny-gpt/1";
  model: ModelConfig;
  tokenizer: TokenizerJSON;
  meta: CheckpointMeta;
  params: { name: string; shape: number[] }[];
}

/** A checkpoint that cannot be used: the CLI prints one line and exits 2. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}

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

/**
 * Load a checkpoint, checking that its weights fit its model config and, when `expectSize` is
 * given, that it is a model of that size.
 */
export function loadCheckpoint(dir: string, expectSize?: string): LoadedCheckpoint {
  const cfgPath = join(dir, "config.json");
  const binPath = join(dir, "weights.bin");
  if (!existsSync(cfgPath) || !existsSync(binPath)) {
    throw new CheckpointError(`checkpoint ${JSON.stringify(dir)} has no config.json and weights.bin; expected a folder written by xent train`);
  }
  let file: ConfigFile;
  try {
    file = JSON.parse(readFileSync(cfgPath, "utf8")) as ConfigFile;
  } catch (e) {
    throw new CheckpointError(`checkpoint ${cfgPath} is not valid JSON (${(e as Error).message})`);
  }
  if (file.format !== "xent-tiny-gpt/1") throw new CheckpointError(`checkpoint ${cfgPath} has format ${JSON.stringify(file.format)}; expected "xent-tiny-gpt/1"`);
  const config = file.model;
  if (expectSize !== undefined && config.size !== expectSize) {
    throw new CheckpointError(`checkpoint ${JSON.stringify(dir)} holds a "${config.size}" model; expected size "${expectSize}"`);
  }
  const preset = SIZES[config.size];
  if (preset !== undefined && (preset.width !== config.width || preset.layers !== config.layers || preset.heads !== config.heads || preset.context !== config.context)) {
    throw new CheckpointError(`checkpoint ${JSON.stringify(dir)} says size "${config.size}" but has width ${config.width}, ${config.layers} layers; expected the "${config.size}" preset (width ${preset.width}, ${preset.layers} layers)`);
  }
  const tokenizer = tokenizerFromJSON(file.tokenizer);
  if (tokenizer.vocabSize !== config.vocabSize) {
    throw new CheckpointError(`checkpoint ${JSON.stringify(dir)}: the tokenizer has ${tokenizer.vocabSize} tokens but the model ${config.vocabSize}`);
  }
  const want = paramShapes(config);
  const bytes = readFileSync(binPath);
  const weights = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const params: Params = new Map();
  let off = 0;
  for (const [i, [name, shape]] of want.entries()) {
    const got = file.params[i];
    if (got === undefined || got.name !== name || got.shape.join("x") !== shape.join("x")) {
      throw new CheckpointError(
        `checkpoint ${JSON.stringify(dir)}: parameter ${i} is ${got ? `${got.name} [${got.shape.join(", ")}]` : "missing"}; expected ${name} [${shape.join(", ")}] for a "${config.size}" model`,
      );
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (off + size > weights.length) throw new CheckpointError(`checkpoint ${binPath} is truncated at parameter ${name}`);
    const t = tf.tensor(weights.slice(off, off + size), shape);
    params.set(name, tf.variable(t)); // unnamed: tfjs variable names are global to the process
    t.dispose();
    off += size;
  }
  if (off !== weights.length) throw new CheckpointError(`checkpoint ${binPath} holds ${weights.length} floats; expected ${off}`);
  return { config, params, tokenizer, meta: file.meta };
}

export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
}
