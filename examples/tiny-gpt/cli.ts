/**
 * What `xent train` and `xent score` run: flags in, progress bar and lines out. The xent CLI
 * (src/cli/train.ts, src/cli/score.ts) parses the flags and loads this module on demand, so
 * tfjs is only loaded by these two commands, and only once the input files have been checked
 * (a bad file is reported without waiting for tfjs).
 */
import { resolve } from "node:path";
import { MultiBar, Presets } from "cli-progress";
import type { TfBackend } from "./backend.js";
import { CheckpointError, readCheckpointFile } from "./checkpoint-file.js";
import { CorpusError, readText } from "./data.js";
import type { ScoreOptions } from "./score.js";
import type { MetricsRecord, TrainOptions } from "./train.js";

/** A user mistake (bad file, wrong checkpoint): one line, exit code 2. */
export function isUserError(e: unknown): boolean {
  return e instanceof CorpusError || e instanceof CheckpointError;
}

function fmtLine(r: MetricsRecord): string {
  return (
    `step ${String(r.step).padStart(5)} | train loss ${r.trainLoss.toFixed(4)} (ppl ${r.trainPpl.toFixed(2)})` +
    ` | val loss ${r.valLoss.toFixed(4)} (ppl ${r.valPpl.toFixed(2)}) | ${Math.round(r.tokensPerSec)} tok/s | ${r.elapsedSec.toFixed(1)} s`
  );
}

export interface RunTrainFlags extends TrainOptions {
  backend: TfBackend;
  progress: boolean;
}

/** Run `xent train`; resolves to the exit code (0 done, 130 interrupted by Ctrl-C). */
export async function runTrain(flags: RunTrainFlags): Promise<number> {
  if (flags.corpus !== undefined) readText(flags.corpus); // a missing or empty corpus fails fast
  const [{ setupTf }, { train }] = await Promise.all([import("./backend.js"), import("./train.js")]);
  await setupTf(flags.backend);
  const out = process.stdout;
  let stop = false;
  const onSigint = (): void => {
    if (stop) process.exit(130); // a second Ctrl-C: leave now
    stop = true;
    out.write("\nxent train: interrupted; finishing this step and saving the checkpoint (Ctrl-C again to quit now)\n");
  };
  process.on("SIGINT", onSigint);
  const bars = flags.progress ? new MultiBar({ format: " {bar} step {value}/{total} | loss {loss} | {tps} tok/s | ETA {eta_formatted}", hideCursor: true, clearOnComplete: true, stream: process.stderr }, Presets.shades_classic) : null;
  let bar: ReturnType<MultiBar["create"]> | null = null;
  const say = (line: string): void => {
    if (bars === null) {
      out.write(line + "\n");
      return;
    }
    bars.log(line + "\n");
    // draw now: log() only buffers until the next redraw, and the last line would be lost at stop()
    (bars as unknown as { update(): void }).update();
  };
  try {
    const result = await train(flags, {
      onStart: (i) => {
        say(
          `xent train: ${i.config.size} model, ${i.params.toLocaleString("en-US")} parameters (${i.config.layers} layers, width ${i.config.width}, ${i.config.heads} heads, context ${i.config.context}), ` +
            `${flags.tokenizer} tokenizer with V = ${i.config.vocabSize} (ln V = ${Math.log(i.config.vocabSize).toFixed(3)}), ` +
            `${i.trainTokens.toLocaleString("en-US")} train / ${i.valTokens.toLocaleString("en-US")} validation tokens, ${i.steps} steps of ${i.batch}×${i.config.context} tokens, seed ${flags.seed}, tfjs ${flags.backend}`,
        );
        bar = bars?.create(i.steps, 0, { loss: "-", tps: "-" }) ?? null;
      },
      onStep: (s) => bar?.update(s.step, { loss: s.loss.toFixed(4), tps: Math.round(s.tokensPerSec) }),
      onEval: (r) => say(fmtLine(r)),
      shouldStop: () => stop,
    });
    bars?.stop();
    const last = result.records[result.records.length - 1]!;
    const dir = resolve(result.out);
    if (result.interrupted) {
      out.write(`xent train: stopped at step ${result.stepsDone}; kept ${dir}/metrics.jsonl, ${dir}/loss.svg and the checkpoint of step ${result.stepsDone} in ${dir}/checkpoint (exit 130)\n`);
      return 130;
    }
    out.write(
      `xent train: done. val loss ${last.valLoss.toFixed(4)} nats/token (perplexity ${last.valPpl.toFixed(2)}) after ${result.stepsDone} steps.\n` +
        `  ${dir}/loss.svg  ${dir}/samples.txt  ${dir}/metrics.jsonl  ${dir}/checkpoint/\n`,
    );
    return 0;
  } finally {
    bars?.stop();
    process.off("SIGINT", onSigint);
  }
}

export interface RunScoreFlags extends ScoreOptions {
  backend: TfBackend;
  progress: boolean;
  json: boolean;
}

/** Run `xent score`; resolves to the exit code. */
export async function runScore(flags: RunScoreFlags): Promise<number> {
  readText(flags.file, "text");
  const { config } = readCheckpointFile(flags.checkpoint, flags.size); // checked before tfjs loads
  if (flags.stride !== undefined && flags.stride > config.context) {
    throw new RangeError(`--stride is ${flags.stride}; expected an integer in [1, ${config.context}] (the context)`);
  }
  const [{ setupTf }, { score }] = await Promise.all([import("./backend.js"), import("./score.js")]);
  await setupTf(flags.backend);
  const bars = flags.progress ? new MultiBar({ format: " scoring {bar} window {value}/{total} | ETA {eta_formatted}", hideCursor: true, clearOnComplete: true, stream: process.stderr }, Presets.shades_classic) : null;
  let bar: ReturnType<MultiBar["create"]> | null = null;
  try {
    const r = await score(flags, {
      onStart: (windows) => {
        bar = bars?.create(windows, 0) ?? null;
      },
      onWindow: (done) => bar?.update(done),
    });
    bars?.stop();
    if (flags.json) {
      process.stdout.write(JSON.stringify({ ...r.summary, top: r.top }) + "\n");
      return 0;
    }
    const s = r.summary;
    const lines = [
      `xent score: ${s.file} with the "${s.size}" checkpoint at step ${s.checkpointStep}`,
      `  tokens scored   ${s.tokens} (${s.bytes} bytes; windows of ${s.context}, stride ${s.stride})`,
      `  mean loss       ${s.meanLoss.toFixed(4)} nats/token (${(s.meanLoss / Math.LN2).toFixed(4)} bits/token)`,
      `  perplexity      ${s.perplexity.toFixed(3)}`,
      `  bits per byte   ${s.bitsPerByte.toFixed(4)}`,
      `  most surprising tokens:`,
      ...r.top.map((t) => `    ${t.loss.toFixed(2).padStart(6)} nats  ${JSON.stringify(t.token).padEnd(8)} at ${String(t.index).padStart(6)}  …${t.context}`),
      `  page: ${resolve(r.htmlPath)}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  } finally {
    bars?.stop();
  }
}
