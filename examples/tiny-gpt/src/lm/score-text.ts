/**
 * Scoring a text with any causal language model: the surprisal (per-token loss, in nats) of every
 * token, computed by xent's `crossEntropy` from the model's logits, with each token's place in the
 * text. The model is anything that maps token ids to logits, e.g. an ONNX model loaded by
 * `loadModelFolder` (./model-folder.ts), or your own callback:
 *
 *   const model = { tokenizer, vocabSize: 50257, context: 1024, logits: async (ids) => myLogits(ids) };
 *   const { losses, byteOffsets, meanLoss, bitsPerByte } = await scoreText(model, "Some text.");
 *
 * Long texts are scored in windows of the model's context with a stride, as perplexity is
 * evaluated for language models: each window advances by `stride` tokens and scores only the
 * tokens no earlier window scored, so every token but the first is scored once, with between
 * context − stride and context tokens of history (fewer at the very start).
 */
import { crossEntropy, init, type Engine, type GpuBufferLike } from "xent";

/**
 * Logits a model leaves in a GPU buffer (ONNX Runtime Web's "gpu-buffer" outputs are such tensors):
 * ids.length × vocabSize float32, row-major from byte 0. Their losses are computed on the GPU by
 * `ScoringModel.engine`, and only the per-token losses are read back.
 */
export interface GpuTensorLogits {
  readonly gpuBuffer: GpuBufferLike;
  /** Free the buffer: called once the window's losses are computed. */
  dispose(): void;
}

/** Logits of a causal LM for one sequence: ids.length rows of vocabSize floats, row-major, on the host or on the GPU. */
export type LogitsFn = (ids: Int32Array) => Promise<Float32Array | GpuTensorLogits>;

/** What scoring needs of a tokenizer: ids for a text, and the UTF-8 bytes each id stands for. */
export interface TextTokenizer {
  encode(text: string): Int32Array;
  /**
   * The UTF-8 bytes of the text that token `id` stands for, given the bytes still to be matched
   * (`rest`): special tokens a tokenizer adds (a BOS) stand for no bytes.
   */
  tokenBytes(id: number, rest: Uint8Array): Uint8Array;
}

/** A causal LM to score with: a loaded model folder, or a callback with its tokenizer and sizes. */
export interface ScoringModel {
  tokenizer: TextTokenizer;
  /** V: floats per row of logits. */
  vocabSize: number;
  /** The most tokens the model reads at once (n_positions, max_position_embeddings). */
  context: number;
  logits: LogitsFn;
  /** The engine that computes the losses of logits left on the GPU: a webgpu engine on the model's GPUDevice (`createEngine({ backend: "webgpu", device })`). */
  engine?: Engine;
}

export interface ScoreTextOptions {
  /** Tokens each window advances; default half the context. */
  stride?: number;
  /** Called after each window with the windows done and their count (for a progress bar). */
  onWindow?: (done: number, total: number) => void;
}

export interface TextScore {
  ids: Int32Array;
  /** losses[i] = −log p(ids[i] | ids before it), in nats; NaN for token 0 (no history). */
  losses: Float64Array;
  /** Token i covers the UTF-8 bytes [byteOffsets[2i], byteOffsets[2i+1]) of the text. */
  byteOffsets: Int32Array;
  /**
   * Token i lies in text.slice(charOffsets[2i], charOffsets[2i+1]) (UTF-16 indices): the whole
   * characters its bytes touch, so a token holding part of a character covers all of it.
   */
  charOffsets: Int32Array;
  /** The text of each token: its bytes decoded (U+FFFD where a token holds part of a character). */
  pieces: string[];
  /** True when the tokens' bytes spell the text exactly (false after a normaliser changed it). */
  offsetsExact: boolean;
  context: number;
  stride: number;
  /** Tokens scored (all but the first). */
  tokens: number;
  /** UTF-8 bytes of the scored tokens: the text's, less those of the first token. */
  bytes: number;
  /** Mean loss over the scored tokens (nats per token), exp of it, and bits per byte of the scored tokens. */
  meanLoss: number;
  perplexity: number;
  bitsPerByte: number;
  /** Milliseconds in the model's logits calls and in xent's loss. */
  modelMs: number;
  lossMs: number;
}

/** A window: inputs ids[begin, end-1), targets ids[begin+1, end); it scores targets from `from` on. */
export interface Window {
  begin: number;
  end: number;
  from: number;
}

/** The windows that score tokens 1..L-1 of L tokens once each, with context T and the stride. */
export function windows(length: number, context: number, stride: number): Window[] {
  const out: Window[] = [];
  let scoredTo = 1; // token 0 has no history and is not scored
  for (let begin = 0; scoredTo < length; begin += stride) {
    const end = Math.min(begin + context + 1, length);
    if (end > scoredTo) out.push({ begin, end, from: scoredTo });
    scoredTo = Math.max(scoredTo, end);
  }
  return out;
}

function checkModel(fn: string, model: ScoringModel): void {
  for (const key of ["vocabSize", "context"] as const) {
    const v = model[key];
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${fn}: model.${key} is ${String(v)}; expected a positive integer`);
  }
  if (typeof model.logits !== "function") throw new TypeError(`${fn}: model.logits is ${typeof model.logits}; expected a function (ids: Int32Array) => Promise<Float32Array>`);
}

/**
 * Per-token losses of token ids under the model, window by window: losses[0] is NaN, losses[i] is
 * xent's cross-entropy of the model's logits at position i−1 against ids[i].
 */
export async function scoreIds(
  model: Omit<ScoringModel, "tokenizer">,
  ids: Int32Array,
  options: ScoreTextOptions = {},
): Promise<{ losses: Float64Array; stride: number; modelMs: number; lossMs: number }> {
  const fn = "scoreIds";
  checkModel(fn, { ...model, tokenizer: { encode: () => ids, tokenBytes: () => new Uint8Array(0) } });
  const { vocabSize, context } = model;
  const stride = options.stride ?? Math.max(1, Math.floor(context / 2));
  if (!Number.isInteger(stride) || stride < 1 || stride > context) throw new RangeError(`${fn}: options.stride is ${stride}; expected an integer in [1, ${context}] (the context)`);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!(id >= 0 && id < vocabSize)) throw new RangeError(`${fn}: ids[${i}] is ${id}; expected a token id in [0, ${vocabSize}) (the vocabulary)`);
  }
  await init(); // the WebAssembly SIMD kernels where the runtime has them (else plain JS)
  const losses = new Float64Array(ids.length).fill(NaN);
  const ws = windows(ids.length, context, stride);
  let modelMs = 0;
  let lossMs = 0;
  for (const [k, w] of ws.entries()) {
    const n = w.end - w.begin - 1;
    const t0 = performance.now();
    const logits = await model.logits(ids.slice(w.begin, w.end - 1));
    const t1 = performance.now();
    // only the rows of tokens this window scores: logits row r predicts ids[begin + 1 + r]
    const first = w.from - w.begin - 1;
    const targets = ids.subarray(w.from, w.end);
    let perToken: ArrayLike<number>;
    if (logits instanceof Float32Array) {
      if (logits.length !== n * vocabSize) throw new RangeError(`${fn}: model.logits returned ${logits.length} floats for ${n} tokens (window ${k}); expected a Float32Array of ${n} × ${vocabSize} (the vocabulary)`);
      perToken = crossEntropy(logits.subarray(first * vocabSize), targets, { classes: vocabSize, reduction: "none" }).loss;
    } else {
      perToken = await gpuLosses(fn, model.engine, logits, first, targets, vocabSize, `${n} tokens (window ${k})`);
    }
    for (let pos = w.from; pos < w.end; pos++) losses[pos] = perToken[pos - w.from]!;
    lossMs += performance.now() - t1;
    modelMs += t1 - t0;
    options.onWindow?.(k + 1, ws.length);
  }
  return { losses, stride, modelMs, lossMs };
}

/** Per-token losses of rows [first, first + targets.length) of logits on the GPU, computed there by `engine`; the logits are disposed. */
async function gpuLosses(fn: string, engine: Engine | undefined, logits: GpuTensorLogits, first: number, targets: Int32Array, vocabSize: number, what: string): Promise<ArrayLike<number>> {
  try {
    if (typeof logits !== "object" || logits === null || !("gpuBuffer" in logits)) throw new TypeError(`${fn}: model.logits returned ${String(logits)} for ${what}; expected a Float32Array, or logits on the GPU ({ gpuBuffer, dispose })`);
    const rows = first + targets.length;
    if (logits.gpuBuffer.size < rows * vocabSize * 4) throw new RangeError(`${fn}: model.logits returned a GPU buffer of ${logits.gpuBuffer.size} bytes for ${what}; expected at least ${rows} × ${vocabSize} float32`);
    if (engine === undefined) throw new TypeError(`${fn}: model.logits returned logits on the GPU for ${what}; expected model.engine, a webgpu engine on the model's device, to compute their losses`);
    const r = await engine.crossEntropy({ buffer: logits.gpuBuffer, offset: first * vocabSize * 4, length: targets.length * vocabSize }, targets, { classes: vocabSize, reduction: "none" });
    return r.loss;
  } finally {
    if (typeof logits?.dispose === "function") logits.dispose();
  }
}

/** Where each token lies in the text, from the bytes the tokenizer says each id stands for. */
export function tokenOffsets(tokenizer: TextTokenizer, ids: Int32Array, text: string): Pick<TextScore, "byteOffsets" | "charOffsets" | "pieces" | "offsetsExact"> {
  const bytes = new TextEncoder().encode(text);
  const byteOffsets = new Int32Array(2 * ids.length);
  const pieces: string[] = [];
  const decoder = new TextDecoder();
  let at = 0;
  let exact = true;
  for (let i = 0; i < ids.length; i++) {
    const own = tokenizer.tokenBytes(ids[i]!, bytes.subarray(at));
    const matches = at + own.length <= bytes.length && own.every((b, j) => b === bytes[at + j]);
    exact &&= matches;
    byteOffsets[2 * i] = at;
    at = Math.min(bytes.length, at + own.length);
    byteOffsets[2 * i + 1] = at;
    pieces.push(decoder.decode(own));
  }
  exact &&= at === bytes.length;
  // byte -> UTF-16 index of the character holding it, and one past the end
  const charOf = new Int32Array(bytes.length + 1);
  let b = 0;
  let u = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    charOf.fill(u, b, b + len);
    b += len;
    u += ch.length;
  }
  charOf[bytes.length] = text.length;
  const charOffsets = new Int32Array(2 * ids.length);
  for (let i = 0; i < ids.length; i++) {
    const start = byteOffsets[2 * i]!;
    const end = byteOffsets[2 * i + 1]!;
    charOffsets[2 * i] = charOf[start]!;
    // the end of the character holding the last byte
    charOffsets[2 * i + 1] = end === start ? charOf[start]! : charOf[end - 1]! + (text.codePointAt(charOf[end - 1]!)! > 0xffff ? 2 : 1);
  }
  return { byteOffsets, charOffsets, pieces, offsetsExact: exact };
}

/** Score a text: tokenise it, run the model window by window, and compute every token's loss with xent. */
export async function scoreText(model: ScoringModel, text: string, options: ScoreTextOptions = {}): Promise<TextScore> {
  const fn = "scoreText";
  checkModel(fn, model);
  if (typeof text !== "string") throw new TypeError(`${fn}: text is ${typeof text}; expected a string`);
  const ids = model.tokenizer.encode(text);
  if (ids.length < 2) throw new RangeError(`${fn}: the text has ${ids.length} token; expected at least 2 to score`);
  const { losses, stride, modelMs, lossMs } = await scoreIds(model, ids, options);
  const offsets = tokenOffsets(model.tokenizer, ids, text);
  let sum = 0;
  for (let i = 1; i < losses.length; i++) sum += losses[i]!;
  const tokens = ids.length - 1;
  const bytes = new TextEncoder().encode(text).length - offsets.byteOffsets[1]!;
  const meanLoss = sum / tokens;
  return {
    ids, losses, ...offsets, context: model.context, stride, tokens, bytes,
    meanLoss, perplexity: Math.exp(meanLoss), bitsPerByte: sum / Math.LN2 / Math.max(1, bytes), modelMs, lossMs,
  };
}
