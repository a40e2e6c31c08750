/**
 * The tiny GPT of examples/tiny-gpt, for the browser: its checkpoint format
 * (config.json + weights.bin, "xent-tiny-gpt/1"), its character tokenizer, and its forward pass
 * up to the last hidden states, in plain loops over float64 (no tfjs on the page). The LM head
 * and the loss are left to xent's engine (`linearCrossEntropy`).
 *
 * The same model as the trainer's TensorFlow.js one: token + position embeddings, pre-norm
 * blocks of causal multi-head self-attention and a GELU (tanh) MLP, a final layer norm (eps 1e-5).
 * test/browser/demos.test.ts checks the page's per-token losses against the trainer's `score`.
 */

import type { ModelConfig } from "../../tiny-gpt/src/config.js";

export interface Gpt {
  config: ModelConfig;
  /** The training step the checkpoint was saved at. */
  step: number;
  /** The character vocabulary: chars[0] stands for any character outside it. */
  chars: string[];
  params: Map<string, Float32Array>;
}

/** A checkpoint this page cannot use: shown to the reader as it is. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;

/** Build the model from config.json (parsed) and weights.bin, checking that they fit each other. */
export function parseCheckpoint(configJson: unknown, weights: ArrayBuffer): Gpt {
  if (!isRecord(configJson) || configJson.format !== "xent-tiny-gpt/1") {
    throw new CheckpointError(`config.json is not a tiny-GPT checkpoint (format ${JSON.stringify(isRecord(configJson) ? configJson.format : configJson)}; expected "xent-tiny-gpt/1")`);
  }
  const { model, tokenizer, meta, params } = configJson;
  if (!isRecord(model) || !isRecord(tokenizer) || !Array.isArray(params)) throw new CheckpointError("config.json lacks model, tokenizer or params");
  if (tokenizer.kind !== "char" || !Array.isArray(tokenizer.chars)) {
    throw new CheckpointError(`the checkpoint uses the ${JSON.stringify(tokenizer.kind)} tokenizer; this page reads character-tokenizer checkpoints (the default of npm start)`);
  }
  const config: ModelConfig = {
    size: String(model.size),
    vocabSize: Number(model.vocabSize),
    context: Number(model.context),
    layers: Number(model.layers),
    width: Number(model.width),
    heads: Number(model.heads),
    tied: model.tied === true,
  };
  const chars = tokenizer.chars.map(String);
  if (chars.length !== config.vocabSize) throw new CheckpointError(`the tokenizer has ${chars.length} characters but the model ${config.vocabSize} classes`);
  const flat = new Float32Array(weights);
  const byName = new Map<string, Float32Array>();
  let off = 0;
  for (const p of params) {
    if (!isRecord(p) || typeof p.name !== "string" || !Array.isArray(p.shape)) throw new CheckpointError("config.json: a params entry lacks its name or shape");
    const size = p.shape.reduce((a: number, b: unknown) => a * Number(b), 1);
    byName.set(p.name, flat.subarray(off, off + size));
    off += size;
  }
  if (off !== flat.length) throw new CheckpointError(`weights.bin holds ${flat.length} float32 weights; config.json lists ${off}`);
  const gpt: Gpt = { config, step: isRecord(meta) ? Number(meta.step) : NaN, chars, params: byName };
  const d = config.width;
  const need: [string, number][] = [["wte", config.vocabSize * d], ["wpe", config.context * d], ["lnf.g", d], ["lnf.b", d]];
  if (!config.tied) need.push(["head", config.vocabSize * d]);
  for (let l = 0; l < config.layers; l++) need.push([`h${l}.attn.wqkv`, 3 * d * d], [`h${l}.mlp.w1`, 4 * d * d], [`h${l}.mlp.w2`, 4 * d * d]);
  for (const [name, size] of need) {
    const got = byName.get(name)?.length;
    if (got !== size) throw new CheckpointError(`parameter ${name} has ${got ?? "no"} weights; expected ${size} for a ${d}-wide model`);
  }
  return gpt;
}

/** Ids of a text's characters (0 for characters outside the vocabulary) and the text of each id. */
export function charTokenizer(chars: readonly string[]): { encode(text: string): Int32Array; piece(id: number): string } {
  const index = new Map(chars.map((c, i) => [c, i]));
  return {
    encode: (text) => Int32Array.from(Array.from(text, (c) => index.get(c) ?? 0)),
    piece: (id) => chars[id] ?? chars[0]!,
  };
}

function param(gpt: Gpt, name: string): Float32Array {
  const w = gpt.params.get(name);
  if (w === undefined) throw new CheckpointError(`the checkpoint has no parameter ${name}`);
  return w;
}

/** The LM head's weight, V×D (the token embedding when tied). */
export function headWeight(gpt: Gpt): Float32Array {
  return param(gpt, gpt.config.tied ? "wte" : "head");
}

/** out (n×m) = x (n×k) · w (k×m) + b (m), all row-major. */
function linear(x: Float64Array, n: number, k: number, w: Float32Array, b: Float32Array, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const row = out.subarray(i * m, (i + 1) * m);
    row.set(b);
    for (let j = 0; j < k; j++) {
      const a = x[i * k + j]!;
      const wj = j * m;
      for (let c = 0; c < m; c++) row[c]! += a * w[wj + c]!;
    }
  }
  return out;
}

function layerNorm(x: Float64Array, n: number, d: number, g: Float32Array, b: Float32Array): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let mean = 0;
    for (let c = 0; c < d; c++) mean += x[i * d + c]!;
    mean /= d;
    let variance = 0;
    for (let c = 0; c < d; c++) variance += (x[i * d + c]! - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / d + 1e-5);
    for (let c = 0; c < d; c++) out[i * d + c] = (x[i * d + c]! - mean) * inv * g[c]! + b[c]!;
  }
  return out;
}

/** Causal multi-head attention over qkv (n × 3d: q, k, v side by side, head h in columns h·hd…). */
function attention(qkv: Float64Array, n: number, d: number, heads: number): Float64Array {
  const hd = d / heads;
  const scale = 1 / Math.sqrt(hd);
  const y = new Float64Array(n * d);
  const w = new Float64Array(n);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let c = 0; c < hd; c++) s += qkv[i * 3 * d + h * hd + c]! * qkv[j * 3 * d + d + h * hd + c]!;
        w[j] = s * scale;
        max = Math.max(max, w[j]!);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += w[j] = Math.exp(w[j]! - max);
      for (let j = 0; j <= i; j++) {
        const a = w[j]! / sum;
        for (let c = 0; c < hd; c++) y[i * d + h * hd + c]! += a * qkv[j * 3 * d + 2 * d + h * hd + c]!;
      }
    }
  }
  return y;
}

const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

/** The last hidden states (n×D, after the final layer norm) for ids, n <= context. */
export function hiddenStates(gpt: Gpt, ids: Int32Array): Float32Array {
  const { width: d, heads, layers, context } = gpt.config;
  const n = ids.length;
  if (n > context) throw new RangeError(`hiddenStates: ${n} tokens; expected at most the context, ${context}`);
  const wte = param(gpt, "wte");
  const wpe = param(gpt, "wpe");
  let x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) x[i * d + c] = wte[ids[i]! * d + c]! + wpe[i * d + c]!;
  for (let l = 0; l < layers; l++) {
    const p = (name: string): Float32Array => param(gpt, `h${l}.${name}`);
    const a = layerNorm(x, n, d, p("ln1.g"), p("ln1.b"));
    const y = attention(linear(a, n, d, p("attn.wqkv"), p("attn.bqkv"), 3 * d), n, d, heads);
    const proj = linear(y, n, d, p("attn.wo"), p("attn.bo"), d);
    for (let i = 0; i < n * d; i++) x[i]! += proj[i]!;
    const m = layerNorm(x, n, d, p("ln2.g"), p("ln2.b"));
    const hid = linear(m, n, d, p("mlp.w1"), p("mlp.b1"), 4 * d).map(gelu);
    const out = linear(hid, n, 4 * d, p("mlp.w2"), p("mlp.b2"), d);
    x = x.map((v, i) => v + out[i]!);
  }
  return Float32Array.from(layerNorm(x, n, d, param(gpt, "lnf.g"), param(gpt, "lnf.b")));
}

/** A window of the scored text: inputs ids[begin, end−1), targets ids[begin+1, end); it scores targets from `from` on. */
export interface Window {
  begin: number;
  end: number;
  from: number;
}

/**
 * The strided windows of the trainer's `score`: each advances `stride` tokens and scores only the
 * tokens no earlier window scored, so tokens 1…L−1 are each scored once (token 0 has no history).
 */
export function scoringWindows(length: number, context: number, stride: number): Window[] {
  const out: Window[] = [];
  let next = 1;
  for (let begin = 0; next < length; begin += stride) {
    const end = Math.min(begin + context + 1, length);
    if (end > next) out.push({ begin, end, from: next });
    next = Math.max(next, end);
  }
  return out;
}
