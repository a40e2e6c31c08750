/**
 * The `tiny-gpt` command: `tiny-gpt train` trains the tiny GPT with xent's cross-entropy and
 * `tiny-gpt score` scores a text with a trained checkpoint. Flags are parsed here and in the two
 * command files; tfjs is loaded only once the flags and input files have been checked.
 * Exit codes: 0 success, 2 bad flags or input (one line on stderr, `tiny-gpt: …`), 130 training
 * stopped by Ctrl-C (its checkpoint and loss log are kept), 1 anything unexpected.
 */
import { Command, CommanderError } from "commander";
import { CheckpointError } from "./checkpoint-file.js";
import { CorpusError } from "./data.js";
import { UsageError } from "./flags.js";
import { registerScore } from "./score-command.js";
import { registerTrain } from "./train-command.js";

export const NAME = "tiny-gpt";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name(NAME)
    .description("train a tiny GPT with xent's cross-entropy, and score texts with it")
    .version("0.1.0")
    .exitOverride()
    // commander's own errors ("error: unknown option ...") in the same style as ours
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(s.replace(/^error: /, `${NAME}: `)) })
    .showHelpAfterError(false)
    .showSuggestionAfterError(false);
  registerTrain(program);
  registerScore(program);
  return program;
}

/** A mistake of the user's (flag, file, checkpoint): one line and exit code 2. */
export function isUserError(e: unknown): e is Error {
  return e instanceof UsageError || e instanceof CorpusError || e instanceof CheckpointError;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    // a command may end with its own code (train: 130 when interrupted by Ctrl-C)
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // already printed in one line
    if (isUserError(e)) {
      process.stderr.write(`${NAME}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${NAME}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
