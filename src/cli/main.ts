#!/usr/bin/env node
/**
 * The `xent` command line: argument parsing and printing only; every number comes from the
 * public API. Subcommands live one per file beside this one.
 * Exit codes: 0 success, 2 bad arguments or input (one line on stderr, `xent: …`), 1 anything
 * unexpected. (The tiny-GPT trainer has its own command, `tiny-gpt`, in examples/tiny-gpt.)
 */
import { Command, CommanderError } from "commander";
import { registerLoss } from "./loss.js";
import { UsageError } from "./util.js";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("xent")
    .description("Exact, fast cross-entropy for language models")
    .version("0.1.0")
    .exitOverride()
    // commander's own errors ("error: unknown option ...") in the same style as ours
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(s.replace(/^error: /, "xent: ")) })
    .showHelpAfterError(false)
    .showSuggestionAfterError(false);
  registerLoss(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
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
