/**
 * `tiny-gpt train`: train the tiny GPT with xent's loss, e.g.
 *   tiny-gpt train --steps 300 --size small --seed 1 --out runs/latest
 *   tiny-gpt train --resume --out runs/latest     (continue a stopped run where it stopped)
 * Exit codes: 0 done, 2 bad flags or input, 130 interrupted (Ctrl-C; checkpoint and log kept).
 */
import type { Command } from "commander";
import { runTrain } from "./cli.js";
import { SIZES } from "./config.js";
import { UsageError, parseIntFlag, parseNumberFlag } from "./flags.js";

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
  force?: boolean;
  resume?: boolean;
}

/** Default steps per size: about two minutes on 2 cores for "small" (see the README's figures). */
export const DEFAULT_STEPS: Record<string, number> = { tiny: 300, small: 1200, medium: 150 };

/** Flags that define a run: with --resume they come from the checkpoint and may not be given. */
const RUN_FLAGS: [key: keyof TrainFlags, flag: string][] = [
  ["size", "--size"],
  ["corpus", "--corpus"],
  ["seed", "--seed"],
  ["tokenizer", "--tokenizer"],
  ["evalEvery", "--eval-every"],
  ["evalBatches", "--eval-batches"],
  ["batch", "--batch"],
  ["lr", "--lr"],
  ["tied", "--tied"],
  ["force", "--force"],
];

export function registerTrain(program: Command): void {
  const sizes = Object.keys(SIZES);
  program
    .command("train")
    .description("train a tiny GPT on the bundled English corpus (or --corpus FILE) with xent's cross-entropy")
    .option("--steps <n>", "optimiser steps (default: 1200 for small, about two minutes on 2 cores)")
    .option("--size <name>", `model size: ${sizes.join(", ")}`, "small")
    .option("--corpus <file>", "UTF-8 text file to train on (default: the English sentences of nlp-corpus)")
    .option("--seed <n>", "seed of the initialisation and the batches", "1")
    .option("--out <dir>", "run folder", "runs/latest")
    .option("--force", "replace the run already in --out")
    .option("--resume", "continue the run in --out from its checkpoint (same settings, same loss curve)")
    .option("--tokenizer <kind>", "char (default) or gpt2 (GPT-2 BPE, 50257 tokens, slow on CPU)", "char")
    .option("--eval-every <n>", "evaluate, log and checkpoint every n steps", "100")
    .option("--eval-batches <n>", "batches of each split per evaluation", "4")
    .option("--batch <n>", "sequences per batch (default: the size's preset)")
    .option("--lr <x>", "peak learning rate (default: the size's preset)")
    .option("--sample-length <n>", "characters per generated sample", "300")
    .option("--tied", "tie the LM head to the token embedding (default: a separate head matrix)")
    .option("--backend <name>", "tfjs backend: wasm or cpu", "wasm")
    .option("--no-progress", "no progress bar (it is also off when stderr is not a terminal)")
    .action(async (flags: TrainFlags, command: Command) => {
      const given = RUN_FLAGS.filter(([key]) => command.getOptionValueSource(key) === "cli").map(([, flag]) => flag);
      const code = await runTrainCli(flags, given);
      if (code !== 0) process.exitCode = code;
    });
}

/** Check the flags and run; `given` lists the run-defining flags typed on the command line. */
export async function runTrainCli(flags: TrainFlags, given: string[] = []): Promise<number> {
  const sizes = Object.keys(SIZES);
  if (!sizes.includes(flags.size)) throw new UsageError(`--size is "${flags.size}"; expected one of ${sizes.join(", ")}`);
  if (flags.tokenizer !== "char" && flags.tokenizer !== "gpt2") throw new UsageError(`--tokenizer is "${flags.tokenizer}"; expected char or gpt2`);
  if (flags.backend !== "wasm" && flags.backend !== "cpu") throw new UsageError(`--backend is "${flags.backend}"; expected wasm or cpu`);
  if (flags.out.trim() === "") throw new UsageError(`--out is empty; expected a folder for the run`);
  if (flags.resume === true && given.length > 0) {
    throw new UsageError(`--resume continues the run in ${flags.out} with its own settings; leave out ${given.join(", ")} (only --steps, --sample-length, --backend and --no-progress may be given)`);
  }
  const steps = flags.steps === undefined ? undefined : parseIntFlag("--steps", flags.steps, 1, 1_000_000);
  return runTrain({
    steps: steps ?? DEFAULT_STEPS[flags.size]!,
    stepsGiven: steps !== undefined,
    size: flags.size,
    ...(flags.corpus !== undefined ? { corpus: flags.corpus } : {}),
    seed: parseIntFlag("--seed", flags.seed, 0, 2 ** 31 - 1),
    out: flags.out,
    tokenizer: flags.tokenizer,
    evalEvery: parseIntFlag("--eval-every", flags.evalEvery, 1, 1_000_000),
    evalBatches: parseIntFlag("--eval-batches", flags.evalBatches, 1, 1000),
    ...(flags.batch !== undefined ? { batch: parseIntFlag("--batch", flags.batch, 1, 4096) } : {}),
    ...(flags.lr !== undefined ? { learningRate: parseNumberFlag("--lr", flags.lr, 1e-8, 1) } : {}),
    sampleLength: parseIntFlag("--sample-length", flags.sampleLength, 0, 100_000),
    tied: flags.tied === true,
    force: flags.force === true,
    resume: flags.resume === true,
    backend: flags.backend,
    progress: flags.progress && process.stderr.isTTY === true,
  });
}
