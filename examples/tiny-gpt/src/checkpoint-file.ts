/**
 * Checkpoint files, written and checked without tfjs. A checkpoint is a folder with
 * - config.json: format, model config, tokenizer, meta (step, seed, validation loss), parameter list;
 * - weights.bin: every parameter as little-endian float32, in paramShapes order;
 * - state.json and optimizer.bin (written by `tiny-gpt train`): what `--resume` needs.
 *
 * Replacing a checkpoint is crash-safe: the new one is written in full to `<dir>.tmp` (files
 * flushed to disk, config.json last), the old one is renamed to `<dir>.old`, `<dir>.tmp` to
 * `<dir>`, and `<dir>.old` is removed. Whenever the process dies, one of `<dir>`, `<dir>.tmp`
 * (complete once `<dir>` has gone) or `<dir>.old` holds a whole checkpoint, and
 * readCheckpointFile finds it. Every mismatch is named in one line, before any model is built.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
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
  /** The folder read: `dir`, or `<dir>.tmp` / `<dir>.old` after a save that did not finish. */
  path: string;
}

/** Where a save stands; `onStep` hooks see each step in this order (tests stop the process at each). */
export const SAVE_STEPS = ["tmp-written", "old-moved", "tmp-moved", "done"] as const;
export type SaveStep = (typeof SAVE_STEPS)[number];

/** Write `data` to `path` and flush it to disk. */
function writeDurable(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, "w");
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Flush a folder's entries (renames, new files) to disk; a no-op where folders cannot be opened. */
function syncDir(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    fsyncSync(fd);
  } catch {
    // Windows cannot fsync a folder; the renames are still atomic there
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Replace the checkpoint in `dir` by `file` + `weights` (+ `extra` files, e.g. state.json and
 * optimizer.bin), crash-safely (see the top of this file).
 */
export function writeCheckpointFiles(dir: string, file: ConfigFile, weights: Float32Array, extra: Record<string, Uint8Array | string> = {}, onStep?: (step: SaveStep) => void): void {
  const tmp = `${dir}.tmp`;
  const old = `${dir}.old`;
  if (!existsSync(dir) && findCheckpoint(dir) === tmp) {
    // an earlier save stopped between its two renames: keep its (complete) checkpoint as the old one
    rmSync(old, { recursive: true, force: true });
    renameSync(tmp, old);
  }
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeDurable(join(tmp, "weights.bin"), new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
  for (const [name, data] of Object.entries(extra)) writeDurable(join(tmp, name), data);
  writeDurable(join(tmp, "config.json"), JSON.stringify(file, null, 1) + "\n"); // last: marks the folder complete
  syncDir(tmp);
  onStep?.("tmp-written");
  if (existsSync(dir)) {
    rmSync(old, { recursive: true, force: true });
    renameSync(dir, old);
    onStep?.("old-moved");
  }
  renameSync(tmp, dir);
  syncDir(dirname(dir));
  onStep?.("tmp-moved");
  rmSync(old, { recursive: true, force: true });
  onStep?.("done");
}

/**
 * The folder that holds the checkpoint `dir`: `dir` itself, or, when a save was stopped between
 * its renames, `<dir>.tmp` (the newer, if whole) or `<dir>.old`. Undefined when there is none.
 */
export function findCheckpoint(dir: string): string | undefined {
  const whole = (d: string): boolean => existsSync(join(d, "config.json")) && existsSync(join(d, "weights.bin"));
  if (existsSync(dir)) return whole(dir) ? dir : undefined;
  for (const d of [`${dir}.tmp`, `${dir}.old`]) {
    if (!whole(d)) continue;
    try {
      readCheckpointAt(d, dir);
      return d;
    } catch {
      // a half-written <dir>.tmp: fall back to <dir>.old
    }
  }
  return undefined;
}

/**
 * Read and check a checkpoint folder: its weights must fit its config, its config its size
 * preset, and, when `expectSize` is given, it must be a model of that size.
 */
export function readCheckpointFile(dir: string, expectSize?: string): CheckpointFile {
  const path = findCheckpoint(dir);
  if (path === undefined) throw new CheckpointError(`checkpoint ${JSON.stringify(dir)} has no config.json and weights.bin; expected a folder written by tiny-gpt train`);
  return readCheckpointAt(path, dir, expectSize);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function describe(x: unknown): string {
  if (x === undefined) return "missing";
  if (x === null) return "null";
  return Array.isArray(x) ? "an array" : typeof x === "object" ? "an object" : `${typeof x} ${JSON.stringify(x)}`;
}

function readCheckpointAt(path: string, dir: string, expectSize?: string): CheckpointFile {
  const cfgPath = join(path, "config.json");
  const binPath = join(path, "weights.bin");
  const name = JSON.stringify(dir);
  let file: unknown;
  try {
    file = JSON.parse(readFileSync(cfgPath, "utf8"));
  } catch (e) {
    throw new CheckpointError(`checkpoint ${cfgPath} is not valid JSON (${(e as Error).message})`);
  }
  const bad = (what: string, got: unknown, expected: string): CheckpointError => new CheckpointError(`checkpoint ${cfgPath}: ${what} is ${describe(got)}; expected ${expected}`);
  if (!isObject(file)) throw bad("the file", file, "an object written by tiny-gpt train");
  if (file.format !== "xent-tiny-gpt/1") throw bad("format", file.format, `"xent-tiny-gpt/1"`);
  const model = file.model;
  if (!isObject(model)) throw bad("model", model, "an object with size, vocabSize, context, layers, width, heads and tied");
  const sizes = Object.keys(SIZES);
  if (typeof model.size !== "string" || !sizes.includes(model.size)) throw bad("model.size", model.size, `one of ${sizes.join(", ")}`);
  for (const key of ["vocabSize", "context", "layers", "width", "heads"] as const) {
    const x = model[key];
    if (typeof x !== "number" || !Number.isInteger(x) || x < 1) throw bad(`model.${key}`, x, "a positive integer");
  }
  if (typeof model.tied !== "boolean") throw bad("model.tied", model.tied, "true or false");
  const config: ModelConfig = {
    size: model.size,
    vocabSize: model.vocabSize as number,
    context: model.context as number,
    layers: model.layers as number,
    width: model.width as number,
    heads: model.heads as number,
    tied: model.tied,
  };
  if (expectSize !== undefined && config.size !== expectSize) throw new CheckpointError(`checkpoint ${name} holds a "${config.size}" model; expected size "${expectSize}"`);
  const preset = SIZES[config.size]!;
  const differ = (["context", "layers", "width", "heads"] as const).filter((k) => preset[k] !== config[k]);
  if (differ.length > 0) {
    const list = (c: { [k in (typeof differ)[number]]: number }): string => differ.map((k) => `${k} ${c[k]}`).join(", ");
    throw new CheckpointError(`checkpoint ${name} says size "${config.size}" but has ${list(config)}; the "${config.size}" preset has ${list(preset)}`);
  }
  if (!isObject(file.meta) || typeof file.meta.step !== "number" || !Number.isInteger(file.meta.step) || file.meta.step < 0) {
    throw bad("meta", file.meta, "an object with the step (an integer >= 0)");
  }
  const meta: CheckpointMeta = { step: file.meta.step, seed: typeof file.meta.seed === "number" ? file.meta.seed : 0, ...(typeof file.meta.valLoss === "number" ? { valLoss: file.meta.valLoss } : {}) };
  if (!isObject(file.tokenizer)) throw bad("tokenizer", file.tokenizer, `an object with kind "char" or "gpt2"`);
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromJSON(file.tokenizer as TokenizerJSON);
  } catch (e) {
    throw new CheckpointError(`checkpoint ${cfgPath}: ${(e as Error).message}`);
  }
  if (tokenizer.vocabSize !== config.vocabSize) {
    throw new CheckpointError(`checkpoint ${name}: the tokenizer has ${tokenizer.vocabSize} tokens but the model ${config.vocabSize}`);
  }
  const params = file.params;
  if (!Array.isArray(params)) throw bad("params", params, "the list of parameters (name and shape of each)");
  let total = 0;
  for (const [i, [pname, shape]] of paramShapes(config).entries()) {
    const got: unknown = params[i];
    const ok = isObject(got) && got.name === pname && Array.isArray(got.shape) && got.shape.join("x") === shape.join("x");
    if (!ok) {
      const seen = isObject(got) && Array.isArray(got.shape) ? `${String(got.name)} [${got.shape.join(", ")}]` : got === undefined ? "missing" : describe(got);
      throw new CheckpointError(`checkpoint ${name}: parameter ${i} is ${seen}; expected ${pname} [${shape.join(", ")}] for a "${config.size}" model`);
    }
    total += shape.reduce((a, b) => a * b, 1);
  }
  if (params.length !== paramShapes(config).length) {
    throw new CheckpointError(`checkpoint ${name}: params lists ${params.length} parameters; expected ${paramShapes(config).length} for a "${config.size}" model`);
  }
  const bytes = readFileSync(binPath);
  if (bytes.byteLength !== total * 4) {
    throw new CheckpointError(`checkpoint ${binPath} holds ${bytes.byteLength} bytes; expected ${total * 4} (${total} float32 weights)`);
  }
  const weights = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { config, tokenizer, meta, weights, path };
}
