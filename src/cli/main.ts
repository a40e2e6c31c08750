#!/usr/bin/env node
/**
 * The `xent` command line: argument parsing and printing only; every number comes from the
 * public API. Subcommands live one per file beside this one.
 * Exit codes: 0 success, 2 bad arguments or input (one-line error on stderr), 130 `xent train`
 * stopped by Ctrl-C (its checkpoint and loss log are kept).
 */
import { Command, CommanderError } from "commander";
import { registerLoss } from "./loss.js";
import { registerScore } from "./score.js";
import { registerTrain } from "./train.js";
import { UsageError } from "./util.js";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("xent")
    .description("Exact, fast cross-entropy for language models")
    .version("0.1.0")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError(false)
    .showSuggestionAfterError(false);
  registerLoss(program);
  registerTrain(program);
  registerScore(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    // a subcommand may end with its own code (xent train: 130 when interrupted by Ctrl-C)
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; parse errors were already printed in one line by commander
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError || e instanceof TypeError || e instanceof RangeError) {
      process.stderr.write(`xent: ${e.message}\n`);
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
    process.stderr.write(`xent: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
