/**
 * What `tiny-gpt score --model DIR FILE` runs: score a text file (or standard input, "-") with an
 * ONNX model folder and report it as the checkpoint scorer does: the figures, the most surprising
 * tokens, `--json`, and the surprisal page (surprisal.html in `out`).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { MultiBar, Presets } from "cli-progress";
import { readInput } from "../data.js";
import { plural, UsageError } from "../flags.js";
import { figures, surprisalHtml, topTokens, type ScoreSummary, type TopToken } from "../score.js";
import { ModelFolderError, MissingPackageError, loadModelFolder } from "./model-folder.js";
import { scoreText, type TextScore } from "./score-text.js";

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

/** A user mistake with a model folder (bad folder, missing runtime): one line, exit code 2. */
export function isModelScoreUserError(e: unknown): e is Error {
  return e instanceof ModelFolderError || e instanceof MissingPackageError || e instanceof UsageError;
}

export interface ModelScoreResult {
  summary: ScoreSummary & { model: string; modelMs: number; lossMs: number };
  score: TextScore;
  top: TopToken[];
  htmlPath: string;
}

/** Score a file with a model folder and write surprisal.html; `onWindow` drives a progress bar. */
export async function scoreFileWithModel(o: RunModelScoreFlags, onWindow?: (done: number, total: number) => void): Promise<ModelScoreResult> {
  const input = readInput(o.file);
  const text = input.chars.join("");
  const model = await loadModelFolder(o.model, o.threads !== undefined ? { threads: o.threads } : {});
  try {
    const stride = o.stride ?? Math.max(1, Math.floor(model.context / 2));
    if (stride > model.context) throw new UsageError(`--stride is ${stride}; expected an integer in [1, ${model.context}] (the context)`);
    const score = await scoreText(model, text, { stride, ...(onWindow ? { onWindow } : {}) });
    const description = `${model.modelType} model ${basename(resolve(o.model))} (V = ${model.vocabSize})`;
    const summary = {
      file: input.name, size: model.modelType, checkpointStep: 0, tokenizer: "tokenizer.json", model: description,
      ...figures(score.losses, score.bytes), inputBytes: input.bytes, unknownChars: 0, invalidBytes: input.invalidBytes,
      context: model.context, stride, modelMs: score.modelMs, lossMs: score.lossMs,
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
  const bars = o.progress ? new MultiBar({ format: " scoring {bar} window {value}/{total}", hideCursor: true, clearOnComplete: true, stream: process.stderr }, Presets.shades_classic) : null;
  const state: { bar: ReturnType<MultiBar["create"]> | null } = { bar: null };
  try {
    const r = await scoreFileWithModel(o, (done, total) => {
      state.bar ??= bars?.create(total, 0) ?? null;
      state.bar?.update(done);
    });
    bars?.stop();
    if (o.json) {
      process.stdout.write(JSON.stringify({ ...r.summary, top: r.top }) + "\n");
      return 0;
    }
    const s = r.summary;
    const lines = [
      `tiny-gpt score: ${s.file} with the ${s.model}`,
      `  tokens scored   ${s.tokens} (${s.bytes} of ${plural(s.inputBytes, "input byte")}; windows of ${s.context}, stride ${s.stride})`,
      `  mean surprisal  ${s.meanBits.toFixed(4)} bits/token (${s.meanLoss.toFixed(4)} nats)`,
      `  perplexity      ${s.perplexity.toFixed(3)}`,
      `  bits per byte   ${s.bitsPerByte.toFixed(4)}`,
      `  time            ${(s.modelMs / 1000).toFixed(2)} s in the model, ${(s.lossMs / 1000).toFixed(2)} s in xent's loss`,
      ...(r.top.length > 0 ? [`  most surprising tokens:`, ...r.top.map((t) => `    ${t.bits.toFixed(2).padStart(6)} bits  ${JSON.stringify(t.token).padEnd(8)} at ${String(t.index).padStart(6)}`)] : []),
      `  page: ${resolve(r.htmlPath)}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  } finally {
    bars?.stop();
  }
}
