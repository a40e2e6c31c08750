/**
 * Checkpoint files, read and checked without tfjs: config.json (model config, tokenizer,
 * training state, parameter list) and weights.bin (every parameter as little-endian float32, in
 * paramShapes order). A mismatch is named in one line, before any model is built.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { paramShapes, SIZES, type ModelConfig } from "./config.js";
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from "./tokenizer.js";

export interface CheckpointMeta {
  step: number;
  seed: number;
  valLoss?: number;
}

export interface ConfigFile {
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

export interface CheckpointFile {
  config: ModelConfig;
  tokenizer: Tokenizer;
  meta: CheckpointMeta;
  /** Every parameter, flat, in paramShapes(config) order. */
  weights: Float32Array;
}

/**
 * Read and check a checkpoint folder: its weights must fit its config, its config its size
 * preset, and, when `expectSize` is given, it must be a model of that size.
 */
export function readCheckpointFile(dir: string, expectSize?: string): CheckpointFile {
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
    throw new CheckpointError(
      `checkpoint ${JSON.stringify(dir)} says size "${config.size}" but has width ${config.width}, ${config.layers} layers; expected the "${config.size}" preset (width ${preset.width}, ${preset.layers} layers)`,
    );
  }
  const tokenizer = tokenizerFromJSON(file.tokenizer);
  if (tokenizer.vocabSize !== config.vocabSize) {
    throw new CheckpointError(`checkpoint ${JSON.stringify(dir)}: the tokenizer has ${tokenizer.vocabSize} tokens but the model ${config.vocabSize}`);
  }
  let total = 0;
  for (const [i, [name, shape]] of paramShapes(config).entries()) {
    const got = file.params[i];
    if (got === undefined || got.name !== name || got.shape.join("x") !== shape.join("x")) {
      throw new CheckpointError(
        `checkpoint ${JSON.stringify(dir)}: parameter ${i} is ${got ? `${got.name} [${got.shape.join(", ")}]` : "missing"}; expected ${name} [${shape.join(", ")}] for a "${config.size}" model`,
      );
    }
    total += shape.reduce((a, b) => a * b, 1);
  }
  const bytes = readFileSync(binPath);
  if (bytes.byteLength !== total * 4) {
    throw new CheckpointError(`checkpoint ${binPath} holds ${bytes.byteLength} bytes; expected ${total * 4} (${total} float32 weights)`);
  }
  const weights = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { config, tokenizer, meta: file.meta, weights };
}
