/**
 * `tiny-gpt score`: run a trained checkpoint over a text and report its surprisal, e.g.
 *   tiny-gpt score --checkpoint runs/latest/checkpoint notes.txt
 *   cat notes.txt | tiny-gpt score --checkpoint runs/latest/checkpoint -
 *   tiny-gpt score --model models/gpt2 notes.txt      (an ONNX causal LM folder, see docs/scoring.md)
 * prints the mean surprisal, perplexity, bits per byte and the most surprising tokens, and writes
 * an HTML page colouring each token by its surprisal. Exit code 2 for bad flags or input.
 */
import type { Command } from "commander";
import { runScore } from "./cli.js";
import { SIZES } from "./config.js";
import { UsageError, parseIntFlag } from "./flags.js";

interface ScoreFlags {
  checkpoint?: string;
  model?: string;
  threads?: string;
  out: string;
  stride?: string;
  top: string;
  size?: string;
  backend: string;
  progress: boolean;
  json?: boolean;
}

export function registerScore(program: Command): void {
  program
    .command("score")
    .description("per-token surprisal, mean loss, perplexity and bits per byte of a text under a trained checkpoint or an ONNX language model")
    .argument("<file>", "text file to score (UTF-8), or - for standard input")
    .option("--checkpoint <dir>", "checkpoint folder written by tiny-gpt train (e.g. runs/latest/checkpoint)")
    .option("--model <dir>", "instead of a checkpoint: a causal LM folder with config.json, tokenizer.json and onnx/model.onnx (needs onnxruntime-node and @huggingface/tokenizers)")
    .option("--threads <n>", "ONNX Runtime threads with --model (default: its own choice)")
    .option("--out <dir>", "folder for surprisal.html", "runs/score")
    .option("--stride <n>", "tokens each window advances (default: half the context)")
    .option("--top <n>", "how many surprising tokens to list (0: none)", "10")
    .option("--size <name>", `check that the checkpoint is a model of this size (${Object.keys(SIZES).join(", ")})`)
    .option("--backend <name>", "tfjs backend: wasm or cpu", "wasm")
    .option("--json", "print the figures and top tokens as JSON")
    .option("--no-progress", "no progress bar")
    .action(async (file: string, flags: ScoreFlags) => {
      const code = await runScoreCli(file, flags);
      if (code !== 0) process.exitCode = code;
    });
}

export async function runScoreCli(file: string, flags: ScoreFlags): Promise<number> {
  if ((flags.checkpoint === undefined) === (flags.model === undefined)) throw new UsageError("expected one of --checkpoint <dir> and --model <dir>");
  const common = {
    file,
    out: flags.out,
    ...(flags.stride !== undefined ? { stride: parseIntFlag("--stride", flags.stride, 1, 1_000_000) } : {}),
    top: parseIntFlag("--top", flags.top, 0, 10_000),
    progress: flags.progress && process.stderr.isTTY === true,
    json: flags.json === true,
  };
  if (flags.model !== undefined) {
    if (flags.size !== undefined) throw new UsageError("--size is for --checkpoint; a --model folder has its own size");
    const threads = flags.threads !== undefined ? { threads: parseIntFlag("--threads", flags.threads, 1, 1024) } : {};
    const { runModelScore, isModelScoreUserError } = await import("./lm/run-model-score.js");
    try {
      return await runModelScore({ model: flags.model, ...common, ...threads });
    } catch (e) {
      if (isModelScoreUserError(e) && !(e instanceof UsageError)) throw new UsageError(e.message);
      throw e;
    }
  }
  if (flags.threads !== undefined) throw new UsageError("--threads is for --model");
  const sizes = Object.keys(SIZES);
  if (flags.size !== undefined && !sizes.includes(flags.size)) throw new UsageError(`--size is "${flags.size}"; expected one of ${sizes.join(", ")}`);
  if (flags.backend !== "wasm" && flags.backend !== "cpu") throw new UsageError(`--backend is "${flags.backend}"; expected wasm or cpu`);
  return runScore({
    ...common,
    checkpoint: flags.checkpoint!,
    ...(flags.size !== undefined ? { size: flags.size } : {}),
    backend: flags.backend,
  });
}
