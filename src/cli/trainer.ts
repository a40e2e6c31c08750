/**
 * Loads the tiny-GPT trainer (examples/tiny-gpt/cli) on demand, so that tfjs is read only by
 * `xent train` and `xent score`. From src/ (tsx) it is the .ts source; from dist/ the build of
 * examples/ beside dist/cli (npm run build compiles both).
 */

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

export async function loadTrainer(): Promise<TrainerModule> {
  const fromSource = import.meta.url.endsWith(".ts");
  const url = new URL(fromSource ? "../../examples/tiny-gpt/cli.ts" : "../examples/tiny-gpt/cli.js", import.meta.url);
  return (await import(url.href)) as TrainerModule;
}

/** The size presets, listed here too so flag errors need not load tfjs. */
export const SIZE_NAMES = ["tiny", "small", "medium"] as const;
