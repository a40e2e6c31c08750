/**
 * A causal language model in ONNX Runtime, whatever the runtime package: onnxruntime-node (the
 * `score --model` command, ./model-folder.ts reads the folder from disk) and onnxruntime-web (the
 * browser demo, which fetches the same files). This module touches neither the file system nor a
 * particular runtime: it reads config.json's sizes, wraps the tokenizer, and runs a session on the
 * inputs a causal LM export takes.
 */
import type { InferenceSession, Tensor } from "onnxruntime-common";
import type { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import type { TextTokenizer } from "./score-text.js";

/** A model folder is missing a file, or holds something this loader cannot run: one line for the user. */
export class ModelFolderError extends Error {
  override name = "ModelFolderError";
}

/** What this module needs of an ONNX Runtime package (onnxruntime-node and onnxruntime-web both export it). */
export interface OrtTensors {
  Tensor: typeof import("onnxruntime-common").Tensor;
}

/** The first of `keys` that config.json sets to a positive integer. */
export function configInt(config: Record<string, unknown>, keys: readonly string[]): number | undefined {
  for (const k of keys) {
    const v = config[k];
    if (typeof v === "number" && Number.isInteger(v) && v > 0) return v;
  }
  return undefined;
}

/** GPT-2's byte-level alphabet: each byte is shown as one printable character; this maps it back. */
function byteLevelDecoder(): Map<string, number> {
  const map = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    map.set(String.fromCharCode(printable ? b : 256 + extra++), b);
  }
  return map;
}

/** Whether a tokenizer.json component (or a Sequence of them) has one of the given type. */
function hasType(component: unknown, type: string): boolean {
  if (component === null || typeof component !== "object") return false;
  const c = component as { type?: unknown; pretokenizers?: unknown; decoders?: unknown };
  if (c.type === type) return true;
  const inner = Array.isArray(c.pretokenizers) ? c.pretokenizers : Array.isArray(c.decoders) ? c.decoders : [];
  return inner.some((x: unknown) => hasType(x, type));
}

function startsWith(rest: Uint8Array, bytes: Uint8Array): boolean {
  return bytes.length <= rest.length && bytes.every((b, i) => b === rest[i]);
}

/** A TextTokenizer over @huggingface/tokenizers, with the bytes each id stands for. */
export function wrapTokenizer(tok: HfTokenizer, json: Record<string, unknown>): TextTokenizer {
  const byteLevel = hasType(json.pre_tokenizer, "ByteLevel") || hasType(json.decoder, "ByteLevel");
  const fromChar = byteLevel ? byteLevelDecoder() : undefined;
  const special = new Map<number, string>();
  for (const [id, t] of tok.get_added_tokens_decoder()) if (t.special) special.set(id, t.content);
  const model = json.model as { continuing_subword_prefix?: unknown } | undefined;
  const subwordPrefix = typeof model?.continuing_subword_prefix === "string" ? model.continuing_subword_prefix : undefined;
  const enc = new TextEncoder();
  const cache = new Map<number, Uint8Array>();
  const ownBytes = (id: number): Uint8Array => {
    let b = cache.get(id);
    if (b !== undefined) return b;
    const piece = tok.id_to_token(id) ?? "";
    const hex = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece); // SentencePiece byte fallback
    if (hex) b = Uint8Array.of(parseInt(hex[1]!, 16));
    else if (fromChar && !special.has(id)) b = Uint8Array.from([...piece].map((ch: string) => fromChar.get(ch) ?? 0x3f));
    else {
      let s = piece.replace(/▁/g, " "); // SentencePiece's word boundary
      if (subwordPrefix !== undefined && s.startsWith(subwordPrefix)) s = s.slice(subwordPrefix.length);
      b = enc.encode(s);
    }
    cache.set(id, b);
    return b;
  };
  return {
    encode(text: string): Int32Array {
      return Int32Array.from(tok.encode(text).ids);
    },
    tokenBytes(id: number, rest: Uint8Array): Uint8Array {
      const b = ownBytes(id);
      if (special.has(id)) return startsWith(rest, b) ? b : new Uint8Array(0); // e.g. a BOS the tokenizer added
      // a word-boundary space the tokenizer prepended to the text (SentencePiece's first word)
      if (b[0] === 0x20 && rest[0] !== 0x20 && startsWith(rest, b.subarray(1))) return b.subarray(1);
      return b;
    },
  };
}

/** The vocabulary and context of a config.json (`where` names it in errors); `context` overrides the config's. */
export function modelSizes(config: Record<string, unknown>, where: string, context?: number): { vocabSize: number; context: number } {
  const vocabSize = configInt(config, ["vocab_size"]);
  if (vocabSize === undefined) throw new ModelFolderError(`${where} has no vocab_size`);
  const ctx = context ?? configInt(config, ["n_positions", "max_position_embeddings", "n_ctx", "seq_length"]);
  if (ctx === undefined) throw new ModelFolderError(`${where} has no n_positions or max_position_embeddings; pass the context`);
  return { vocabSize, context: ctx };
}

/** float16 bits -> number (logits of float16 models). */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * float16 logits widened to float32, exactly. onnxruntime-node hands them over as a Float16Array
 * where the runtime has one (Node 24 and later) and as their bits in a Uint16Array elsewhere:
 * both hold the same 16-bit patterns, read here through a Uint16Array view of the same bytes.
 */
export function widenHalf(data: unknown): Float32Array {
  if (!ArrayBuffer.isView(data) || data.byteLength % 2 !== 0 || data.byteOffset % 2 !== 0) {
    throw new ModelFolderError(`float16 logits came as ${Object.prototype.toString.call(data)}; expected a Float16Array or a Uint16Array of float16 bits`);
  }
  return Float32Array.from(new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2), halfToFloat);
}

/** A CPU logits tensor of a session as float32 (float16 widened); `where` names the model in errors. */
export function floatLogits(t: Tensor, where: string): Float32Array {
  if (t.type === "float32" && t.data instanceof Float32Array) return t.data;
  if (t.type === "float16") return widenHalf(t.data);
  throw new ModelFolderError(`${where}: the logits are ${t.type}; expected float32 or float16`);
}

/**
 * The function that runs `session` on one sequence of ids and returns its logits tensor (1, n, V),
 * wherever the session puts it (CPU memory, or a GPU buffer with onnxruntime-web's
 * `preferredOutputLocation: "gpu-buffer"`; the caller disposes it). Inputs a causal LM export may
 * take besides input_ids (attention_mask, position_ids, an empty past_key_values, use_cache_branch)
 * are filled in; any other is a ModelFolderError (and the session is released).
 */
export async function sessionRunner(ort: OrtTensors, session: InferenceSession, config: Record<string, unknown>, vocabSize: number, where: string): Promise<(ids: Int32Array) => Promise<Tensor>> {
  // past_key_values inputs (models exported "with past") get an empty past: length 0
  const heads = configInt(config, ["num_key_value_heads", "n_head", "num_attention_heads"]);
  const hidden = configInt(config, ["n_embd", "hidden_size", "d_model"]);
  const allHeads = configInt(config, ["num_attention_heads", "n_head"]);
  const headDim = configInt(config, ["head_dim"]) ?? (hidden !== undefined && allHeads !== undefined ? hidden / allHeads : undefined);
  const types = new Map<string, Tensor.Type>();
  for (const m of session.inputMetadata) if (m.isTensor) types.set(m.name, m.type);
  const fixed: Record<string, Tensor> = {};
  for (const name of session.inputNames) {
    if (name === "input_ids" || name === "attention_mask" || name === "position_ids") continue;
    if (/^past_key_values\.\d+\.(key|value)$/.test(name)) {
      if (heads === undefined || headDim === undefined || !Number.isInteger(headDim)) throw new ModelFolderError(`${where} takes ${name}, but config.json gives no heads and head size to make an empty past`);
      const type = types.get(name) ?? "float32";
      const empty = type === "float16" ? new Uint16Array(0) : new Float32Array(0);
      fixed[name] = new ort.Tensor(type, empty, [1, heads, 0, headDim]);
    } else if (name === "use_cache_branch") {
      fixed[name] = new ort.Tensor("bool", Uint8Array.of(0), [1]);
    } else {
      await session.release();
      throw new ModelFolderError(`${where} takes an input "${name}" this loader does not know; expected input_ids, attention_mask, position_ids, past_key_values.*`);
    }
  }
  if (!session.inputNames.includes("input_ids")) {
    await session.release();
    throw new ModelFolderError(`${where} has no input_ids input; inputs are ${session.inputNames.join(", ")}`);
  }
  const output = session.outputNames.includes("logits") ? "logits" : session.outputNames[0]!;

  return async (ids: Int32Array): Promise<Tensor> => {
    const n = ids.length;
    const feeds: Record<string, Tensor> = { ...fixed, input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, (x) => BigInt(x)), [1, n]) };
    if (session.inputNames.includes("attention_mask")) feeds.attention_mask = new ort.Tensor("int64", new BigInt64Array(n).fill(1n), [1, n]);
    if (session.inputNames.includes("position_ids")) feeds.position_ids = new ort.Tensor("int64", BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), [1, n]);
    const result = await session.run(feeds, [output]);
    const t = result[output]!;
    const last = t.dims[t.dims.length - 1];
    if (last !== vocabSize) {
      t.dispose();
      throw new ModelFolderError(`${where}: ${output} has ${String(last)} classes; config.json's vocab_size is ${vocabSize}`);
    }
    return t;
  };
}
