/**
 * `xent score`: run a trained checkpoint over a text and report its surprisal, e.g.
 *   xent score --checkpoint runs/latest/checkpoint notes.txt
 * prints the mean loss, perplexity, bits per byte and the most surprising tokens, and writes an
 * HTML page colouring each token by its surprisal. Exit code 2 for bad flags or input.
 */
import type { Command } from "commander";
import { explainMissingPackage, loadTrainer, SIZE_NAMES } from "./trainer.js";
import { UsageError, parseIntFlag } from "./util.js";

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
    .argument("<file>", "UTF-8 text file to score")
    .requiredOption("--checkpoint <dir>", "checkpoint folder written by xent train (e.g. runs/latest/checkpoint)")
    .option("--out <dir>", "folder for surprisal.html", "runs/score")
    .option("--stride <n>", "tokens each window advances (default: half the context)")
    .option("--top <n>", "how many surprising tokens to list", "10")
    .option("--size <name>", `check that the checkpoint is a model of this size (${SIZE_NAMES.join(", ")})`)
    .option("--backend <name>", "tfjs backend: wasm or cpu", "wasm")
    .option("--json", "print the figures and top tokens as JSON")
    .option("--no-progress", "no progress bar")
    .action(async (file: string, flags: ScoreFlags) => {
      const code = await runScoreCli(file, flags);
      if (code !== 0) process.exitCode = code;
    });
}

export async function runScoreCli(file: string, flags: ScoreFlags): Promise<number> {
  if (flags.size !== undefined && !(SIZE_NAMES as readonly string[]).includes(flags.size)) {
    throw new UsageError(`--size is "${flags.size}"; expected one of ${SIZE_NAMES.join(", ")}`);
  }
  if (flags.backend !== "wasm" && flags.backend !== "cpu") throw new UsageError(`--backend is "${flags.backend}"; expected wasm or cpu`);
  const options = {
    checkpoint: flags.checkpoint,
    file,
    out: flags.out,
    ...(flags.stride !== undefined ? { stride: parseIntFlag("--stride", flags.stride, 1, 1_000_000) } : {}),
    top: parseIntFlag("--top", flags.top, 0, 10_000),
    ...(flags.size !== undefined ? { size: flags.size } : {}),
    backend: flags.backend as "wasm" | "cpu",
    progress: flags.progress && process.stderr.isTTY === true,
    json: flags.json === true,
  };
  const trainer = await loadTrainer("score");
  try {
    return await trainer.runScore(options);
  } catch (e) {
    if (trainer.isUserError(e)) throw new UsageError((e as Error).message);
    throw explainMissingPackage(e, "score");
  }
}
