/**
 * Loads the tiny-GPT trainer (examples/tiny-gpt/cli) on demand, so that tfjs is read only by
 * `xent train` and `xent score`. From src/ (tsx) it is the .ts source; from dist/ the build of
 * examples/ beside dist/cli (npm run build compiles both).
 */
import { UsageError } from "./util.js";

/** The subset of examples/tiny-gpt/cli.ts the CLI calls (kept here so src/ does not import examples/). */
export interface TrainerModule {
  isUserError(e: unknown): boolean;
  runTrain(flags: {
    steps: number;
    size: string;
    corpus?: string;
    seed: number;
    out: string;
    tokenizer: "char" | "gpt2";
    evalEvery: number;
    evalBatches: number;
    batch?: number;
    learningRate?: number;
    sampleLength: number;
    tied: boolean;
    backend: "wasm" | "cpu";
    progress: boolean;
  }): Promise<number>;
  runScore(flags: {
    checkpoint: string;
    file: string;
    out: string;
    stride?: number;
    top: number;
    size?: string;
    backend: "wasm" | "cpu";
    progress: boolean;
    json: boolean;
  }): Promise<number>;
}

/**
 * The packages only `xent train` and `xent score` need. They are optional peer dependencies
 * (devDependencies in this repository), so that installing the library does not pull tfjs.
 */
export const TRAINER_PACKAGES = ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm", "cli-progress", "gpt-tokenizer", "nlp-corpus", "vega", "vega-lite"] as const;

/** Turn "a trainer package is not installed" into a one-line usage error naming them all. */
export function explainMissingPackage(e: unknown, command: string): unknown {
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : "";
  const missing = TRAINER_PACKAGES.find((p) => message.includes(`'${p}'`) || message.includes(`"${p}"`));
  if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && missing !== undefined) {
    return new UsageError(`xent ${command} needs the trainer's packages (${missing} is missing); install them with: npm install ${TRAINER_PACKAGES.join(" ")}`);
  }
  return e;
}

export async function loadTrainer(command = "train"): Promise<TrainerModule> {
  const fromSource = import.meta.url.endsWith(".ts");
  const url = new URL(fromSource ? "../../examples/tiny-gpt/cli.ts" : "../examples/tiny-gpt/cli.js", import.meta.url);
  try {
    return (await import(url.href)) as TrainerModule;
  } catch (e) {
    throw explainMissingPackage(e, command);
  }
}

/** The size presets, listed here too so flag errors need not load tfjs. */
export const SIZE_NAMES = ["tiny", "small", "medium"] as const;
