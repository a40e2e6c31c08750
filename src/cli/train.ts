/**
 * `xent train`: train the tiny GPT of examples/tiny-gpt with xent's loss, e.g.
 *   xent train --steps 300 --size small --seed 1 --out runs/latest
 * Exit codes: 0 done, 2 bad flags or input, 130 interrupted (Ctrl-C; checkpoint and log kept).
 */
import type { Command } from "commander";
import { explainMissingPackage, loadTrainer, SIZE_NAMES } from "./trainer.js";
import { UsageError, parseIntFlag, parseNumberFlag } from "./util.js";

interface TrainFlags {
  steps?: string;
  size: string;
  corpus?: string;
  seed: string;
  out: string;
  tokenizer: string;
  evalEvery: string;
  evalBatches: string;
  batch?: string;
  lr?: string;
  sampleLength: string;
  backend: string;
  progress: boolean;
  tied?: boolean;
}

/** Default steps per size: about two minutes on 2 cores for "small" (docs/trainer.md). */
export const DEFAULT_STEPS: Record<string, number> = { tiny: 300, small: 1200, medium: 150 };

export function registerTrain(program: Command): void {
  program
    .command("train")
    .description("train a tiny GPT on the bundled English corpus (or --corpus FILE) with xent's cross-entropy")
    .option("--steps <n>", "optimiser steps (default: 1200 for small, about two minutes on 2 cores)")
    .option("--size <name>", `model size: ${SIZE_NAMES.join(", ")}`, "small")
    .option("--corpus <file>", "UTF-8 text file to train on (default: the English sentences of nlp-corpus)")
    .option("--seed <n>", "seed of the initialisation and the batches", "1")
    .option("--out <dir>", "run folder", "runs/latest")
    .option("--tokenizer <kind>", "char (default) or gpt2 (GPT-2 BPE, 50257 tokens, slow on CPU)", "char")
    .option("--eval-every <n>", "evaluate, log and checkpoint every n steps", "100")
    .option("--eval-batches <n>", "batches of each split per evaluation", "4")
    .option("--batch <n>", "sequences per batch (default: the size's preset)")
    .option("--lr <x>", "peak learning rate (default: the size's preset)")
    .option("--sample-length <n>", "characters per generated sample", "300")
    .option("--tied", "tie the LM head to the token embedding (default: a separate head matrix)")
    .option("--backend <name>", "tfjs backend: wasm or cpu", "wasm")
    .option("--no-progress", "no progress bar (it is also off when stderr is not a terminal)")
    .action(async (flags: TrainFlags) => {
      const code = await runTrainCli(flags);
      if (code !== 0) process.exitCode = code;
    });
}

export async function runTrainCli(flags: TrainFlags): Promise<number> {
  if (!(SIZE_NAMES as readonly string[]).includes(flags.size)) throw new UsageError(`--size is "${flags.size}"; expected one of ${SIZE_NAMES.join(", ")}`);
  if (flags.tokenizer !== "char" && flags.tokenizer !== "gpt2") throw new UsageError(`--tokenizer is "${flags.tokenizer}"; expected char or gpt2`);
  if (flags.backend !== "wasm" && flags.backend !== "cpu") throw new UsageError(`--backend is "${flags.backend}"; expected wasm or cpu`);
  const steps = flags.steps === undefined ? DEFAULT_STEPS[flags.size]! : parseIntFlag("--steps", flags.steps, 1, 1_000_000);
  const options = {
    steps,
    size: flags.size,
    ...(flags.corpus !== undefined ? { corpus: flags.corpus } : {}),
    seed: parseIntFlag("--seed", flags.seed, 0, 2 ** 31 - 1),
    out: flags.out,
    tokenizer: flags.tokenizer as "char" | "gpt2",
    evalEvery: parseIntFlag("--eval-every", flags.evalEvery, 1, 1_000_000),
    evalBatches: parseIntFlag("--eval-batches", flags.evalBatches, 1, 1000),
    ...(flags.batch !== undefined ? { batch: parseIntFlag("--batch", flags.batch, 1, 4096) } : {}),
    ...(flags.lr !== undefined ? { learningRate: parseNumberFlag("--lr", flags.lr, 1e-8, 1) } : {}),
    sampleLength: parseIntFlag("--sample-length", flags.sampleLength, 0, 100_000),
    tied: flags.tied === true,
    backend: flags.backend as "wasm" | "cpu",
    progress: flags.progress && process.stderr.isTTY === true,
  };
  if (flags.out.trim() === "") throw new UsageError(`--out is empty; expected a folder for the run`);
  const trainer = await loadTrainer();
  try {
    return await trainer.runTrain(options);
  } catch (e) {
    if (trainer.isUserError(e)) throw new UsageError((e as Error).message);
    throw explainMissingPackage(e, "train");
  }
}
