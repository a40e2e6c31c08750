/**
 * `tiny-gpt score`: run a trained checkpoint over a text and report its surprisal, e.g.
 *   tiny-gpt score --checkpoint runs/latest/checkpoint notes.txt
 *   cat notes.txt | tiny-gpt score --checkpoint runs/latest/checkpoint -
 * prints the mean surprisal, perplexity, bits per byte and the most surprising tokens, and writes
 * an HTML page colouring each token by its surprisal. Exit code 2 for bad flags or input.
 */
import type { Command } from "commander";
import { runScore } from "./cli.js";
import { SIZES } from "./config.js";
import { UsageError, parseIntFlag } from "./flags.js";

interface ScoreFlags {
  checkpoint: string;
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
    .description("per-token surprisal, mean loss, perplexity and bits per byte of a text under a trained checkpoint")
    .argument("<file>", "text file to score (UTF-8), or - for standard input")
    .requiredOption("--checkpoint <dir>", "checkpoint folder written by tiny-gpt train (e.g. runs/latest/checkpoint)")
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
  const sizes = Object.keys(SIZES);
  if (flags.size !== undefined && !sizes.includes(flags.size)) throw new UsageError(`--size is "${flags.size}"; expected one of ${sizes.join(", ")}`);
  if (flags.backend !== "wasm" && flags.backend !== "cpu") throw new UsageError(`--backend is "${flags.backend}"; expected wasm or cpu`);
  return runScore({
    checkpoint: flags.checkpoint,
    file,
    out: flags.out,
    ...(flags.stride !== undefined ? { stride: parseIntFlag("--stride", flags.stride, 1, 1_000_000) } : {}),
    top: parseIntFlag("--top", flags.top, 0, 10_000),
    ...(flags.size !== undefined ? { size: flags.size } : {}),
    backend: flags.backend,
    progress: flags.progress && process.stderr.isTTY === true,
    json: flags.json === true,
  });
}
