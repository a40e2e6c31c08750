/**
 * Scoring a text with a trained checkpoint: the surprisal (per-token loss) of every token, the
 * mean loss, perplexity and bits per byte, the most surprising tokens, and an HTML page that
 * colours each token by its surprisal.
 *
 * Long texts are scored in windows of the model's context with a stride, as perplexity is
 * evaluated for language models: each window advances by `stride` tokens and scores only the
 * tokens no earlier window scored, so every token is scored once, with between
 * context − stride and context tokens of history (fewer at the very start).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { crossEntropy } from "xent";
import { disposeParams, loadCheckpoint } from "./checkpoint.js";
import { CorpusError, readText } from "./data.js";
import { forward, type ModelConfig, type Params } from "./model.js";
import type { Tokenizer } from "./tokenizer.js";
import { windows } from "../lm-score/score-text.js";

export { windows, type Window } from "../lm-score/score-text.js";

export interface ScoreOptions {
  checkpoint: string;
  file: string;
  /** Folder for surprisal.html. */
  out: string;
  /** Tokens each window advances; default: half the context. */
  stride?: number;
  /** How many of the most surprising tokens to list. */
  top: number;
  /** When set, the checkpoint must be a model of this size. */
  size?: string;
}

/** Per-token losses in nats: losses[0] is NaN (unscored), losses[i] = −log p(ids[i] | history). */
export async function surprisal(
  config: ModelConfig,
  params: Params,
  ids: Int32Array,
  stride: number,
  onWindow?: (done: number, total: number) => void,
): Promise<Float64Array> {
  const losses = new Float64Array(ids.length).fill(NaN);
  const ws = windows(ids.length, config.context, stride);
  for (const [k, w] of ws.entries()) {
    const n = w.end - w.begin - 1;
    const logits = forward(config, params, ids.subarray(w.begin, w.end - 1), 1, n); // (n, V)
    const data = logits.dataSync() as Float32Array;
    logits.dispose();
    const perToken = crossEntropy(data, ids.subarray(w.begin + 1, w.end), { classes: config.vocabSize, reduction: "none" }).loss as Float32Array;
    for (let pos = w.from; pos < w.end; pos++) losses[pos] = perToken[pos - w.begin - 1]!;
    onWindow?.(k + 1, ws.length);
    if (k % 8 === 7) await new Promise<void>((resolve) => setImmediate(resolve)); // let the progress bar draw
  }
  return losses;
}

export interface ScoreSummary {
  file: string;
  size: string;
  checkpointStep: number;
  tokenizer: string;
  /** Tokens scored (all but the first). */
  tokens: number;
  /** UTF-8 bytes of the scored tokens. */
  bytes: number;
  context: number;
  stride: number;
  meanLoss: number;
  perplexity: number;
  bitsPerByte: number;
  /** Another model than a tiny-GPT checkpoint (e.g. an ONNX folder): shown instead of size and step. */
  model?: string;
}

export interface TopToken {
  index: number;
  token: string;
  loss: number;
  /** The text just before the token. */
  context: string;
}

export interface ScoreResult {
  summary: ScoreSummary;
  losses: Float64Array;
  pieces: string[];
  top: TopToken[];
  htmlPath: string;
}

/** Figures of per-token losses: mean over scored tokens, perplexity = exp(mean), bits per byte. */
export function figures(losses: Float64Array, pieces: readonly string[]): { tokens: number; bytes: number; meanLoss: number; perplexity: number; bitsPerByte: number } {
  let sum = 0;
  let tokens = 0;
  let bytes = 0;
  const enc = new TextEncoder();
  for (let i = 1; i < losses.length; i++) {
    sum += losses[i]!;
    tokens++;
    bytes += enc.encode(pieces[i]!).length;
  }
  const meanLoss = sum / tokens;
  return { tokens, bytes, meanLoss, perplexity: Math.exp(meanLoss), bitsPerByte: sum / Math.LN2 / Math.max(1, bytes) };
}

export function topTokens(losses: Float64Array, pieces: readonly string[], k: number): TopToken[] {
  const order = Array.from({ length: losses.length - 1 }, (_, i) => i + 1).sort((a, b) => losses[b]! - losses[a]! || a - b);
  return order.slice(0, k).map((i) => ({
    index: i,
    token: pieces[i]!,
    loss: losses[i]!,
    context: pieces.slice(Math.max(0, i - 24), i).join("").replace(/\s+/g, " "),
  }));
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Surprisal in bits -> background colour: white (0 bits) through yellow to red (>= maxBits). */
export function surprisalColor(bits: number, maxBits = 8): string {
  const x = Math.max(0, Math.min(1, bits / maxBits));
  const [r, g, b] = x < 0.5 ? [255, 255, 255 - Math.round(2 * x * 200)] : [255, Math.round(255 - (x - 0.5) * 2 * 200), 55];
  return `rgb(${r}, ${g}, ${b})`;
}

/** A self-contained HTML page: the summary, a colour legend, and the text with one span per token. */
export function surprisalHtml(summary: ScoreSummary, losses: Float64Array, pieces: readonly string[], top: readonly TopToken[]): string {
  const spans = pieces
    .map((p, i) => {
      const text = escapeHtml(p);
      if (i === 0 || Number.isNaN(losses[i]!)) return `<span class="t u" title="not scored (no history)">${text}</span>`;
      const bits = losses[i]! / Math.LN2;
      return `<span class="t" data-bits="${bits.toFixed(3)}" title="${escapeHtml(JSON.stringify(p))}: ${bits.toFixed(2)} bits" style="background:${surprisalColor(bits)}">${text}</span>`;
    })
    .join("");
  const legend = [0, 2, 4, 6, 8].map((b) => `<span class="swatch" style="background:${surprisalColor(b)}">${b}${b === 8 ? "+" : ""} bits</span>`).join("");
  const rows = top.map((t) => `<tr><td>${(t.loss / Math.LN2).toFixed(2)}</td><td><code>${escapeHtml(JSON.stringify(t.token))}</code></td><td>${t.index}</td><td>…${escapeHtml(t.context)}</td></tr>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Surprisal: ${escapeHtml(summary.file)}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 24px; max-width: 60em; color: #222; }
h1 { font-size: 20px; margin: 0 0 8px; }
.figures { display: flex; gap: 24px; flex-wrap: wrap; margin: 8px 0 12px; }
.figures div { background: #f4f4f4; padding: 6px 10px; border-radius: 4px; }
.figures b { display: block; font-size: 18px; }
.legend .swatch { display: inline-block; padding: 2px 8px; margin-right: 4px; border: 1px solid #ddd; font-size: 12px; }
#text { font: 15px/1.9 ui-monospace, monospace; white-space: pre-wrap; word-wrap: break-word; border: 1px solid #ddd; padding: 12px; margin: 12px 0; }
.t { border-radius: 2px; }
.t.u { color: #999; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 2px 10px; border-bottom: 1px solid #eee; text-align: left; }
</style></head><body>
<h1>Surprisal of ${escapeHtml(basename(summary.file))}</h1>
<div>${summary.model !== undefined ? escapeHtml(summary.model) : `tiny GPT "${escapeHtml(summary.size)}" (${escapeHtml(summary.tokenizer)} tokens), checkpoint of step ${summary.checkpointStep}`}; windows of ${summary.context} tokens, stride ${summary.stride}. Hover a token for its surprisal.</div>
<div class="figures">
<div>tokens<b id="tokens">${summary.tokens}</b></div>
<div>mean loss<b id="mean-loss">${summary.meanLoss.toFixed(4)}</b>nats/token</div>
<div>perplexity<b id="perplexity">${summary.perplexity.toFixed(3)}</b></div>
<div>bits per byte<b id="bpb">${summary.bitsPerByte.toFixed(4)}</b></div>
</div>
<div class="legend">${legend}</div>
<div id="text">${spans}</div>
<h2 style="font-size:16px">Most surprising tokens</h2>
<table><tr><th>bits</th><th>token</th><th>position</th><th>before it</th></tr>${rows}</table>
</body></html>
`;
}

/** Score a text file with a checkpoint and write surprisal.html. */
export async function score(o: ScoreOptions, hooks: { onStart?(windows: number): void; onWindow?(done: number): void } = {}): Promise<ScoreResult> {
  const text = readText(o.file, "text");
  const ck = loadCheckpoint(o.checkpoint, o.size);
  try {
    const tok: Tokenizer = ck.tokenizer;
    const ids = tok.encode(text);
    if (ids.length < 2) throw new CorpusError(`text file ${JSON.stringify(o.file)} has ${ids.length} token; expected at least 2 to score`);
    const context = ck.config.context;
    const stride = o.stride ?? Math.max(1, Math.floor(context / 2));
    if (!Number.isInteger(stride) || stride < 1 || stride > context) throw new RangeError(`--stride is ${stride}; expected an integer in [1, ${context}] (the context)`);
    hooks.onStart?.(windows(ids.length, context, stride).length);
    const losses = await surprisal(ck.config, ck.params, ids, stride, (done) => hooks.onWindow?.(done));
    const pieces = tok.pieces(ids);
    const f = figures(losses, pieces);
    const summary: ScoreSummary = { file: o.file, size: ck.config.size, checkpointStep: ck.meta.step, tokenizer: tok.kind, context, stride, ...f };
    const top = topTokens(losses, pieces, o.top);
    mkdirSync(o.out, { recursive: true });
    const htmlPath = join(o.out, "surprisal.html");
    writeFileSync(htmlPath, surprisalHtml(summary, losses, pieces, top));
    return { summary, losses, pieces, top, htmlPath };
  } finally {
    disposeParams(ck.params);
  }
}
