/**
 * What `score --model DIR FILE` runs: score a text file (or standard input, "-") with an ONNX
 * model folder and report it as the tiny-GPT scorer does: the figures, the most surprising
 * tokens, `--json`, and the surprisal page (surprisal.html in `out`).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { ModelFolderError, MissingPackageError, loadModelFolder } from "./model-folder.js";
import { scoreText, windows, type TextScore } from "./score-text.js";
import { surprisalHtml, topTokens, type ScoreSummary, type TopToken } from "../tiny-gpt/score.js";
import { CorpusError, readText } from "../tiny-gpt/data.js";

export interface RunModelScoreFlags {
  /** The model folder (config.json, tokenizer.json, onnx/model.onnx). */
  model: string;
  /** A UTF-8 text file, or "-" for standard input. */
  file: string;
  out: string;
  stride?: number;
  top: number;
  /** ONNX Runtime's threads; default its own choice. */
  threads?: number;
  progress: boolean;
  json: boolean;
}

/** A user mistake (bad file, bad folder, missing runtime): one line, exit code 2. */
export function isModelScoreUserError(e: unknown): boolean {
  return e instanceof CorpusError || e instanceof ModelFolderError || e instanceof MissingPackageError || e instanceof RangeError;
}

export interface ModelScoreResult {
  summary: ScoreSummary & { model: string; modelMs: number; lossMs: number };
  score: TextScore;
  top: TopToken[];
  htmlPath: string;
}

/** Score a file with a model folder and write surprisal.html; `onWindow` drives a progress bar. */
export async function scoreFileWithModel(o: RunModelScoreFlags, onWindow?: (done: number, total: number) => void): Promise<ModelScoreResult> {
  const text = o.file === "-" ? readFileSync(0, "utf8") : readText(o.file, "text");
  if (text.trim().length === 0) throw new CorpusError("standard input is empty; expected some text");
  const model = await loadModelFolder(o.model, o.threads !== undefined ? { threads: o.threads } : {});
  try {
    const stride = o.stride ?? Math.max(1, Math.floor(model.context / 2));
    if (stride > model.context) throw new RangeError(`--stride is ${stride}; expected an integer in [1, ${model.context}] (the context)`);
    const score = await scoreText(model, text, { stride, ...(onWindow ? { onWindow } : {}) });
    const description = `${model.modelType} model ${basename(resolve(o.model))} (V = ${model.vocabSize})`;
    const summary = {
      file: o.file, size: model.modelType, checkpointStep: 0, tokenizer: "tokenizer.json", model: description,
      context: model.context, stride, tokens: score.tokens, bytes: score.bytes,
      meanLoss: score.meanLoss, perplexity: score.perplexity, bitsPerByte: score.bitsPerByte, modelMs: score.modelMs, lossMs: score.lossMs,
    };
    const top = topTokens(score.losses, score.pieces, o.top);
    mkdirSync(o.out, { recursive: true });
    const htmlPath = join(o.out, "surprisal.html");
    writeFileSync(htmlPath, surprisalHtml(summary, score.losses, score.pieces, top));
    return { summary, score, top, htmlPath };
  } finally {
    await model.dispose();
  }
}

/** Run `score --model`: print the figures (or JSON); resolves to the exit code. */
export async function runModelScore(o: RunModelScoreFlags): Promise<number> {
  const state: { bar: { update(n: number): void; stop(): void } | null } = { bar: null };
  const onWindow = async (): Promise<((done: number, total: number) => void) | undefined> => {
    if (!o.progress) return undefined;
    const { SingleBar, Presets } = await import("cli-progress");
    return (done, total) => {
      if (state.bar === null) {
        const b = new SingleBar({ format: " scoring {bar} window {value}/{total} | ETA {eta_formatted}", hideCursor: true, clearOnComplete: true, stream: process.stderr }, Presets.shades_classic);
        b.start(total, 0);
        state.bar = b;
      }
      state.bar.update(done);
    };
  };
  try {
    const r = await scoreFileWithModel(o, await onWindow());
    state.bar?.stop();
    if (o.json) {
      process.stdout.write(JSON.stringify({ ...r.summary, top: r.top }) + "\n");
      return 0;
    }
    const s = r.summary;
    const lines = [
      `score: ${s.file} with the ${s.model}`,
      `  tokens scored   ${s.tokens} (${s.bytes} bytes; windows of ${s.context}, stride ${s.stride}, ${windows(r.score.ids.length, s.context, s.stride).length} windows)`,
      `  mean loss       ${s.meanLoss.toFixed(4)} nats/token (${(s.meanLoss / Math.LN2).toFixed(4)} bits/token)`,
      `  perplexity      ${s.perplexity.toFixed(3)}`,
      `  bits per byte   ${s.bitsPerByte.toFixed(4)}`,
      `  time            ${(s.modelMs / 1000).toFixed(2)} s in the model, ${(s.lossMs / 1000).toFixed(2)} s in xent`,
      `  most surprising tokens:`,
      ...r.top.map((t) => `    ${t.loss.toFixed(2).padStart(6)} nats  ${JSON.stringify(t.token).padEnd(8)} at ${String(t.index).padStart(6)}  …${t.context}`),
      `  page: ${resolve(r.htmlPath)}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  } finally {
    state.bar?.stop();
  }
}
