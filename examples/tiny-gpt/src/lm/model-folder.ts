/**
 * Loading a causal language model folder in the layout transformers.js and `optimum-cli export
 * onnx` write:
 *
 *   config.json          vocab_size, n_positions or max_position_embeddings, heads (for past_key_values)
 *   tokenizer.json       the Hugging Face tokenizer (tokenizer_config.json beside it is optional)
 *   onnx/model.onnx      input_ids (+ attention_mask, position_ids, past_key_values.*) -> logits
 *
 * The tokenizer runs in @huggingface/tokenizers (pure JS, no dependencies) and the model in
 * onnxruntime-node (native CPU kernels). Both are optional peer dependencies: a missing one is
 * reported in one line. The model's own loss is never used: `scoreText` (./score-text.ts) computes
 * every per-token loss with xent from the logits this returns.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { InferenceSession } from "onnxruntime-node";
import type { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { floatLogits, ModelFolderError, modelSizes, sessionRunner, wrapTokenizer } from "./onnx-model.js";
import type { ScoringModel, TextTokenizer } from "./score-text.js";

export { halfToFloat, ModelFolderError, widenHalf, wrapTokenizer } from "./onnx-model.js";

/** An optional peer dependency is not installed. */
export class MissingPackageError extends Error {
  override name = "MissingPackageError";
}

const INSTALL_HINT: Record<string, string> = {
  "onnxruntime-node": "npm install onnxruntime-node (with ONNXRUNTIME_NODE_INSTALL=skip set, it skips its optional CUDA download)",
  "@huggingface/tokenizers": "npm install @huggingface/tokenizers",
};

/** Import an optional peer dependency (through `load`), or say in one line how to install it. */
export async function importPeer<T>(name: "onnxruntime-node" | "@huggingface/tokenizers", load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new MissingPackageError(`scoring with a model folder needs the package ${name}, which is not installed: ${INSTALL_HINT[name]}`);
    }
    throw e;
  }
}

function readJson(dir: string, name: string, required: true): Record<string, unknown>;
function readJson(dir: string, name: string, required: false): Record<string, unknown> | undefined;
function readJson(dir: string, name: string, required: boolean): Record<string, unknown> | undefined {
  const path = join(dir, name);
  if (!existsSync(path)) {
    if (!required) return undefined;
    throw new ModelFolderError(`model folder ${JSON.stringify(dir)} has no ${name}; expected config.json, tokenizer.json and onnx/model.onnx (the transformers.js layout)`);
  }
  try {
    const v: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not a JSON object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new ModelFolderError(`${path} is not a JSON object: ${(e as Error).message}`);
  }
}

/** The tokenizer of a model folder (tokenizer.json, and tokenizer_config.json when present). */
export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const json = readJson(dir, "tokenizer.json", true);
  const config = readJson(dir, "tokenizer_config.json", false) ?? {};
  const { Tokenizer } = await importPeer("@huggingface/tokenizers", () => import("@huggingface/tokenizers"));
  let tok: HfTokenizer;
  try {
    tok = new Tokenizer(json, config);
  } catch (e) {
    throw new ModelFolderError(`${join(dir, "tokenizer.json")} could not be loaded by @huggingface/tokenizers: ${(e as Error).message}`);
  }
  return wrapTokenizer(tok, json);
}

export interface LoadOptions {
  /** The ONNX file inside the folder. Default onnx/model.onnx, else model.onnx. */
  onnxFile?: string;
  /** ONNX Runtime's intra-op threads. Default: its own choice (the cores). */
  threads?: number;
  /** Override config.json's context (n_positions, max_position_embeddings, n_ctx). */
  context?: number;
}

export interface LoadedModel extends ScoringModel {
  dir: string;
  onnxPath: string;
  /** config.json's model_type, e.g. "gpt2", "llama". */
  modelType: string;
  inputNames: readonly string[];
  dispose(): Promise<void>;
}

/** Load a causal LM folder: its tokenizer, config and ONNX session, as a model `scoreText` runs. */
export async function loadModelFolder(dir: string, options: LoadOptions = {}): Promise<LoadedModel> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelFolderError(`model folder ${JSON.stringify(dir)} does not exist or is not a folder`);
  const config = readJson(dir, "config.json", true);
  const onnxPath = join(dir, options.onnxFile ?? (existsSync(join(dir, "onnx", "model.onnx")) ? join("onnx", "model.onnx") : "model.onnx"));
  if (!existsSync(onnxPath)) throw new ModelFolderError(`model folder ${JSON.stringify(dir)} has no ${options.onnxFile ?? "onnx/model.onnx"}; export one with optimum-cli export onnx --model NAME ${dir}`);
  const { vocabSize, context } = modelSizes(config, join(dir, "config.json"), options.context);
  const tokenizer = await loadTokenizer(dir);
  const ort = await importPeer("onnxruntime-node", () => import("onnxruntime-node"));
  const sessionOptions: InferenceSession.SessionOptions = { graphOptimizationLevel: "all" };
  if (options.threads !== undefined) sessionOptions.intraOpNumThreads = options.threads;
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(onnxPath, sessionOptions);
  } catch (e) {
    throw new ModelFolderError(`${onnxPath} could not be loaded by onnxruntime-node: ${(e as Error).message.split("\n")[0]}`);
  }

  const run = await sessionRunner(ort, session, config, vocabSize, onnxPath);
  const logits = async (ids: Int32Array): Promise<Float32Array> => floatLogits(await run(ids), onnxPath);

  return {
    dir, onnxPath, modelType: typeof config.model_type === "string" ? config.model_type : "unknown",
    inputNames: session.inputNames, tokenizer, vocabSize, context, logits,
    dispose: () => session.release(),
  };
}
