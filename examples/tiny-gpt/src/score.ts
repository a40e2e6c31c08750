/**
 * Scoring a text with a trained checkpoint: the surprisal (per-token loss) of every token, the
 * mean loss, perplexity and bits per byte, the most surprising tokens, and an HTML page that
 * colours each token by its surprisal.
 *
 * Long texts are scored in windows of the model's context with a stride, as perplexity is
 * evaluated for language models: each window advances by `stride` tokens and scores only the
 * tokens no earlier window scored, so every token is scored once, with between
 * context − stride and context tokens of history (fewer at the very start).
 *
 * Bits per byte count the input's own bytes: a character outside the vocabulary is scored as the
 * unknown token, but counts the bytes it had in the file, and the page shows it as it was.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { crossEntropy } from "xent";
import { disposeParams, loadCheckpoint } from "./checkpoint.js";
import { CorpusError, type DecodedText } from "./data.js";
import { plural, UsageError } from "./flags.js";
import { forward, type ModelConfig, type Params } from "./model.js";
import type { Tokenizer } from "./tokenizer.js";
import { windows } from "./lm/score-text.js";

export { windows, type Window } from "./lm/score-text.js";

export interface ScoreOptions {
  checkpoint: string;
  /** The text, as read from its file or standard input (data.ts readInput). */
  input: DecodedText;
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
  /** Input bytes of the scored tokens: the input's bytes less those of the first token. */
  bytes: number;
  /** The input's length in bytes. */
  inputBytes: number;
  /** Characters outside the checkpoint's vocabulary (scored as the unknown token). */
  unknownChars: number;
  /** Input bytes that are not well-formed UTF-8. */
  invalidBytes: number;
  context: number;
  stride: number;
  /** Mean surprisal of the scored tokens in nats (the training loss's unit) and in bits. */
  meanLoss: number;
  meanBits: number;
  perplexity: number;
  bitsPerByte: number;
  /** Another model than a tiny-GPT checkpoint (an ONNX folder): shown instead of size and step. */
  model?: string;
}

export interface TopToken {
  index: number;
  /** The token as it is in the input. */
  token: string;
  /** Its surprisal in nats and in bits. */
  loss: number;
  bits: number;
  /** The text just before and just after the token. */
  before: string;
  after: string;
}

export interface ScoreResult {
  summary: ScoreSummary;
  losses: Float64Array;
  /** Each token's text as it is in the input. */
  pieces: string[];
  top: TopToken[];
  htmlPath: string;
  /** One line for stderr when much of the input is not UTF-8 or outside the vocabulary. */
  warning?: string;
}

/**
 * Figures of per-token losses: mean over the scored tokens (all but the first), perplexity =
 * exp(mean), and bits per byte = the total in bits over `bytes`, the input bytes those tokens
 * cover.
 */
export function figures(losses: Float64Array, bytes: number): { tokens: number; bytes: number; meanLoss: number; meanBits: number; perplexity: number; bitsPerByte: number } {
  let sum = 0;
  let tokens = 0;
  for (let i = 1; i < losses.length; i++) {
    sum += losses[i]!;
    tokens++;
  }
  const meanLoss = sum / tokens;
  return { tokens, bytes, meanLoss, meanBits: meanLoss / Math.LN2, perplexity: Math.exp(meanLoss), bitsPerByte: sum / Math.LN2 / Math.max(1, bytes) };
}

/** Tokens of text to show on each side of a surprising token. */
const SIDE = 24;

export function topTokens(losses: Float64Array, pieces: readonly string[], k: number): TopToken[] {
  const order = Array.from({ length: losses.length - 1 }, (_, i) => i + 1).sort((a, b) => losses[b]! - losses[a]! || a - b);
  return order.slice(0, k).map((i) => ({
    index: i,
    token: pieces[i]!,
    loss: losses[i]!,
    bits: losses[i]! / Math.LN2,
    before: pieces.slice(Math.max(0, i - SIDE), i).join(""),
    after: pieces.slice(i + 1, i + 1 + SIDE).join(""),
  }));
}

/**
 * Each token's text as it is in the input, and the input bytes it covers. With characters as
 * tokens, token i is code point i of the input (so an unknown character keeps its own text and
 * byte count). With GPT-2's byte-level tokens, the pieces are the tokens' own text; the first
 * token's bytes are those of the characters it spells out.
 */
export function tokenPieces(tok: Tokenizer, ids: Int32Array, input: DecodedText): { pieces: string[]; firstBytes: number } {
  if (tok.kind === "char") return { pieces: input.chars.slice(0, ids.length), firstBytes: input.sizes[0] ?? 0 };
  const pieces = tok.pieces(ids);
  const first = pieces[0] ?? "";
  let firstBytes = 0;
  if (input.text.startsWith(first)) {
    for (let i = 0, len = 0; len < first.length; i++) {
      firstBytes += input.sizes[i]!;
      len += input.chars[i]!.length;
    }
  } else {
    firstBytes = input.sizes[0] ?? 0; // a first token that ends inside a character
  }
  return { pieces, firstBytes };
}

/** Share of the input above which `score` says the figures describe the unknown token more than the text. */
export const MUCH = 0.05;

function percent(x: number): string {
  return `${(100 * x).toFixed(x < 0.1 ? 1 : 0)}%`;
}

/** The stderr line for input that is largely not UTF-8 or outside the vocabulary, or undefined. */
export function inputWarning(input: DecodedText, unknownChars: number): string | undefined {
  const parts: string[] = [];
  if (input.invalidBytes > MUCH * input.bytes) parts.push(`${percent(input.invalidBytes / input.bytes)} of its bytes are not UTF-8 text`);
  const valid = input.chars.length - input.invalidBytes;
  if (unknownChars > MUCH * Math.max(1, valid)) parts.push(`${percent(unknownChars / Math.max(1, valid))} of its characters are outside the checkpoint's vocabulary`);
  if (parts.length === 0) return undefined;
  return `${input.name}: ${parts.join(" and ")}; they are scored as the unknown token, so the figures say little about the text`;
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

/** The page's script: click or tap a token, or focus the text and use the arrow keys, to read its surprisal. */
const PAGE_SCRIPT = `
const text = document.getElementById("text");
const detail = document.getElementById("detail");
const spans = Array.from(text.querySelectorAll(".t"));
let current = -1;
function show(i) {
  if (i < 0 || i >= spans.length) return;
  if (current >= 0) spans[current].classList.remove("sel");
  current = i;
  const s = spans[i];
  s.classList.add("sel");
  text.setAttribute("aria-activedescendant", s.id);
  const d = s.dataset;
  const what = "token " + i + " " + JSON.stringify(s.textContent) + (d.unknown ? " (outside the vocabulary, scored as the unknown token)" : "");
  detail.textContent = d.bits === undefined
    ? what + ": not scored (no history)"
    : what + ": " + d.bits + " bits (" + d.nats + " nats), p = " + d.p + " | before: …" + d.before + " | after: " + d.after + "…";
  s.scrollIntoView({ block: "nearest" });
}
text.addEventListener("click", (e) => {
  const t = e.target.closest(".t");
  if (t) { show(spans.indexOf(t)); text.focus({ preventScroll: true }); }
});
text.addEventListener("focus", () => { if (current < 0) show(Math.min(1, spans.length - 1)); });
text.addEventListener("keydown", (e) => {
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
  if (step !== undefined) show(Math.max(0, Math.min(spans.length - 1, current + step)));
  else if (e.key === "Home") show(0);
  else if (e.key === "End") show(spans.length - 1);
  else return;
  e.preventDefault();
});
`;

/** Up to `n` characters of the text on one side of a token, whitespace shown as single spaces. */
function side(pieces: readonly string[], from: number, to: number): string {
  return pieces.slice(Math.max(0, from), Math.max(0, to)).join("").replace(/\s+/g, " ");
}

/**
 * A self-contained HTML page: the figures (bits, with nats in brackets), a colour legend in
 * bits, the text with one span per token coloured by its surprisal, a panel that shows any
 * token's values (click, tap, or the arrow keys once the text has focus), and the most
 * surprising tokens with the text on both sides. `unknown` holds the indices of tokens scored as
 * the unknown token (shown as they are in the input).
 */
export function surprisalHtml(summary: ScoreSummary, losses: Float64Array, pieces: readonly string[], top: readonly TopToken[], unknown: ReadonlySet<number> = new Set()): string {
  const spans = pieces
    .map((p, i) => {
      const text = escapeHtml(p);
      const unk = unknown.has(i) ? ` data-unknown="1"` : "";
      if (i === 0 || Number.isNaN(losses[i]!)) return `<span class="t u" id="t${i}" role="option"${unk} title="not scored (no history)">${text}</span>`;
      const nats = losses[i]!;
      const bits = nats / Math.LN2;
      const ctx = `data-before="${escapeHtml(side(pieces, i - 12, i))}" data-after="${escapeHtml(side(pieces, i + 1, i + 13))}"`;
      return (
        `<span class="t${unk ? " unk" : ""}" id="t${i}" role="option"${unk} data-bits="${bits.toFixed(3)}" data-nats="${nats.toFixed(3)}" data-p="${Math.exp(-nats).toPrecision(3)}" ${ctx}` +
        ` title="${escapeHtml(JSON.stringify(p))}: ${bits.toFixed(2)} bits (${nats.toFixed(2)} nats)" style="background:${surprisalColor(bits)}">${text}</span>`
      );
    })
    .join("");
  const legend = [0, 2, 4, 6, 8].map((b) => `<span class="swatch" style="background:${surprisalColor(b)}">${b}${b === 8 ? "+" : ""} bits</span>`).join("");
  const rows = top
    .map(
      (t) =>
        `<tr><td>${t.bits.toFixed(2)}</td><td>(${t.loss.toFixed(2)})</td><td><code>${escapeHtml(JSON.stringify(t.token))}</code></td><td>${t.index}</td>` +
        `<td class="ctx">…${escapeHtml(t.before.replace(/\s+/g, " "))}<mark>${escapeHtml(t.token.replace(/\s+/g, " "))}</mark>${escapeHtml(t.after.replace(/\s+/g, " "))}…</td></tr>`,
    )
    .join("");
  const s = summary;
  const notes = [
    s.invalidBytes > 0 ? `${s.invalidBytes} of the ${s.inputBytes} input bytes are not UTF-8 text (shown as �).` : "",
    s.unknownChars > 0 ? `${s.unknownChars} characters are outside the checkpoint's vocabulary: they are scored as the unknown token and shown as they are, underlined.` : "",
  ].filter((x) => x !== "");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Surprisal: ${escapeHtml(s.file)}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 24px; max-width: 60em; color: #222; }
h1 { font-size: 20px; margin: 0 0 8px; }
.figures { display: flex; gap: 24px; flex-wrap: wrap; margin: 8px 0 12px; }
.figures div { background: #f4f4f4; padding: 6px 10px; border-radius: 4px; }
.figures b { display: block; font-size: 18px; }
.legend .swatch { display: inline-block; padding: 2px 8px; margin-right: 4px; border: 1px solid #ddd; font-size: 12px; }
#text { font: 15px/1.9 ui-monospace, monospace; white-space: pre-wrap; word-wrap: break-word; border: 1px solid #ddd; padding: 12px; margin: 12px 0 4px; }
#text:focus { outline: 2px solid #1f77b4; }
#detail { font: 13px/1.5 ui-monospace, monospace; min-height: 1.5em; padding: 4px 8px; background: #f4f4f4; border-radius: 4px; position: sticky; bottom: 0; }
.t { border-radius: 2px; cursor: pointer; }
.t.u { color: #999; }
.t.unk { text-decoration: underline dotted; }
.t.sel { outline: 2px solid #222; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 2px 10px; border-bottom: 1px solid #eee; text-align: left; }
td.ctx { font-family: ui-monospace, monospace; white-space: pre; } mark { background: #ffd24d; }
</style></head><body>
<h1>Surprisal of ${escapeHtml(s.file === "standard input" ? s.file : basename(s.file))}</h1>
<div>${s.model !== undefined ? escapeHtml(s.model) : `tiny GPT "${escapeHtml(s.size)}" (${escapeHtml(s.tokenizer)} tokens), checkpoint of step ${s.checkpointStep}`}; windows of ${s.context} tokens, stride ${s.stride}.
Surprisal is −log₂ p(token | the text before it), in bits (nats, the unit of the training loss, in brackets: 1 nat = 1.443 bits).
Click or tap a token, or focus the text and use the arrow keys, to read its values below the text.</div>
${notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`).join("\n")}
<div class="figures">
<div>tokens scored<b id="tokens">${s.tokens}</b>${s.bytes} bytes</div>
<div>mean surprisal<b id="mean-bits">${s.meanBits.toFixed(4)}</b>bits/token (<span id="mean-loss">${s.meanLoss.toFixed(4)}</span> nats)</div>
<div>perplexity<b id="perplexity">${s.perplexity.toFixed(3)}</b>e<sup>mean nats</sup> = 2<sup>mean bits</sup></div>
<div>bits per byte<b id="bpb">${s.bitsPerByte.toFixed(4)}</b>of the input</div>
</div>
<div class="legend">${legend}</div>
<div id="text" tabindex="0" role="listbox" aria-label="the text, one item per token; arrow keys move between tokens" aria-describedby="detail">${spans}</div>
<div id="detail" aria-live="polite">Click or tap a token, or focus the text and use the arrow keys, to see its surprisal here.</div>
${rows === "" ? "" : `<h2 style="font-size:16px">Most surprising tokens</h2>
<table><tr><th>bits</th><th>(nats)</th><th>token</th><th>position</th><th>in context</th></tr>${rows}</table>`}
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}

/** Score a text with a checkpoint and write surprisal.html. */
export async function score(o: ScoreOptions, hooks: { onStart?(windows: number): void; onWindow?(done: number, total: number): void } = {}): Promise<ScoreResult> {
  const ck = loadCheckpoint(o.checkpoint, o.size);
  try {
    const tok: Tokenizer = ck.tokenizer;
    const input = o.input;
    const ids = tok.encode(input.text);
    if (ids.length < 2) throw new CorpusError(`${input.name} has ${plural(ids.length, "token")}; expected at least 2 to score`);
    const context = ck.config.context;
    const stride = o.stride ?? Math.max(1, Math.floor(context / 2));
    if (!Number.isInteger(stride) || stride < 1 || stride > context) throw new UsageError(`--stride is ${stride}; expected an integer in [1, ${context}] (the context)`);
    hooks.onStart?.(windows(ids.length, context, stride).length);
    const losses = await surprisal(ck.config, ck.params, ids, stride, (done, total) => hooks.onWindow?.(done, total));
    const { pieces, firstBytes } = tokenPieces(tok, ids, input);
    const unknown = new Set<number>();
    if (tok.kind === "char") ids.forEach((id, i) => (id === 0 && !input.invalidAt.has(i) ? unknown.add(i) : undefined));
    const f = figures(losses, input.bytes - firstBytes);
    const summary: ScoreSummary = {
      file: input.name,
      size: ck.config.size,
      checkpointStep: ck.meta.step,
      tokenizer: tok.kind,
      ...f,
      inputBytes: input.bytes,
      unknownChars: unknown.size,
      invalidBytes: input.invalidBytes,
      context,
      stride,
    };
    const top = topTokens(losses, pieces, o.top);
    mkdirSync(o.out, { recursive: true });
    const htmlPath = join(o.out, "surprisal.html");
    writeFileSync(htmlPath, surprisalHtml(summary, losses, pieces, top, unknown));
    const warning = inputWarning(input, unknown.size);
    return { summary, losses, pieces, top, htmlPath, ...(warning !== undefined ? { warning } : {}) };
  } finally {
    disposeParams(ck.params);
  }
}
