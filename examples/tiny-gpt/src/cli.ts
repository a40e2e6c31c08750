/**
 * What `tiny-gpt train` and `tiny-gpt score` run once their flags are parsed: progress bar and
 * lines out. tfjs is loaded only here, and only once the input files have been checked (a bad
 * file is reported without waiting for tfjs).
 */
import { resolve } from "node:path";
import { MultiBar, Presets } from "cli-progress";
import type { TfBackend } from "./backend.js";
import { readCheckpointFile } from "./checkpoint-file.js";
import { readInput, readText } from "./data.js";
import { formatDuration, plural, UsageError } from "./flags.js";
import type { ScoreOptions, TopToken } from "./score.js";
import type { MetricsRecord, TrainOptions } from "./train.js";

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

/** A progress bar on stderr whose ETA we format ourselves (cli-progress's can print "1m60s"). */
function progressBars(format: string): MultiBar {
  return new MultiBar({ format, hideCursor: true, clearOnComplete: true, stream: process.stderr, etaBuffer: 50 }, Presets.shades_classic);
}

/** Seconds left at a steady rate since `t0` (ms), after `done` of `total`. */
function eta(t0: number, done: number, total: number): string {
  const elapsed = (performance.now() - t0) / 1000;
  return done > 0 ? formatDuration(((total - done) * elapsed) / done) : "-";
}

/** Run `tiny-gpt train`; resolves to the exit code (0 done, 130 interrupted by Ctrl-C). */
export async function runTrain(flags: RunTrainFlags): Promise<number> {
  if (flags.corpus !== undefined) readText(flags.corpus); // a missing or empty corpus fails fast
  if (flags.resume === true) readCheckpointFile(`${flags.out}/checkpoint`); // so does a missing checkpoint
  const [{ setupTf }, { train }] = await Promise.all([import("./backend.js"), import("./train.js")]);
  await setupTf(flags.backend);
  const out = process.stdout;
  let stop = false;
  const onSigint = (): void => {
    if (stop) process.exit(130); // a second Ctrl-C: leave now
    stop = true;
    out.write("\ntiny-gpt train: interrupted; finishing this step and saving the checkpoint (Ctrl-C again to quit now)\n");
  };
  process.on("SIGINT", onSigint);
  const bars = flags.progress ? progressBars(" {bar} step {value}/{total} | loss {loss} | {tps} tok/s | ETA {left}") : null;
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
  const t0 = performance.now();
  let first = 0;
  try {
    const result = await train(flags, {
      onStart: (i) => {
        const c = i.config;
        first = i.resumedAt ?? 0;
        say(
          `tiny-gpt train: ${c.size} model, ${plural(i.params, "parameter")} (${plural(c.layers, "layer")}, width ${c.width}, ${plural(c.heads, "head")}, context ${c.context}), ` +
            `${i.settings.tokenizer} tokenizer with V = ${c.vocabSize} (ln V = ${Math.log(c.vocabSize).toFixed(3)}), ` +
            `${i.trainTokens.toLocaleString("en-US")} train / ${plural(i.valTokens, "validation token")}, ${plural(i.steps, "step")} of ${i.batch}×${c.context} tokens, seed ${i.settings.seed}, ` +
            (i.resumedAt !== undefined ? `resumed at step ${i.resumedAt}, ` : "") +
            `tfjs ${flags.backend}`,
        );
        bar = bars?.create(i.steps, first, { loss: "-", tps: "-", left: "-" }) ?? null;
      },
      onStep: (s) => bar?.update(s.step, { loss: s.loss.toFixed(4), tps: Math.round(s.tokensPerSec), left: eta(t0, s.step - first, s.steps - first) }),
      onEval: (r) => say(fmtLine(r)),
      shouldStop: () => stop,
    });
    bars?.stop();
    const last = result.records[result.records.length - 1]!;
    const dir = resolve(result.out);
    if (result.interrupted) {
      out.write(
        `tiny-gpt train: stopped at step ${result.stepsDone}; kept ${dir}/metrics.jsonl, ${dir}/loss.svg and the checkpoint of step ${result.stepsDone} in ${dir}/checkpoint (exit 130).\n` +
          `  continue with: tiny-gpt train --resume --out ${result.out}\n`,
      );
      return 130;
    }
    out.write(
      `tiny-gpt train: done. val loss ${last.valLoss.toFixed(4)} nats/token (perplexity ${last.valPpl.toFixed(2)}) after ${plural(result.stepsDone, "step")}.\n` +
        `  ${dir}/loss.svg  ${dir}/samples.txt  ${dir}/metrics.jsonl  ${dir}/checkpoint/\n`,
    );
    return 0;
  } finally {
    bars?.stop();
    process.off("SIGINT", onSigint);
  }
}

export interface RunScoreFlags extends Omit<ScoreOptions, "input"> {
  /** A file, or "-" for standard input. */
  file: string;
  backend: TfBackend;
  progress: boolean;
  json: boolean;
}

/** "…the lazy [dog] ran…": a token with the text on both sides, whitespace shown as one space. */
export function inContext(t: TopToken): string {
  const flat = (s: string): string => s.replace(/\s+/g, " ");
  return `…${flat(t.before)}[${flat(t.token)}]${flat(t.after)}…`;
}

/** Run `tiny-gpt score`; resolves to the exit code. */
export async function runScore(flags: RunScoreFlags): Promise<number> {
  const input = readInput(flags.file);
  const { config } = readCheckpointFile(flags.checkpoint, flags.size); // checked before tfjs loads
  if (flags.stride !== undefined && flags.stride > config.context) {
    throw new UsageError(`--stride is ${flags.stride}; expected an integer in [1, ${config.context}] (the context)`);
  }
  const [{ setupTf }, { score }] = await Promise.all([import("./backend.js"), import("./score.js")]);
  await setupTf(flags.backend);
  const bars = flags.progress ? progressBars(" scoring {bar} window {value}/{total} | ETA {left}") : null;
  let bar: ReturnType<MultiBar["create"]> | null = null;
  const t0 = performance.now();
  try {
    const r = await score({ ...flags, input }, {
      onStart: (windows) => {
        bar = bars?.create(windows, 0, { left: "-" }) ?? null;
      },
      onWindow: (done, total) => bar?.update(done, { left: eta(t0, done, total) }),
    });
    bars?.stop();
    if (r.warning !== undefined) process.stderr.write(`tiny-gpt score: ${r.warning}\n`);
    if (flags.json) {
      process.stdout.write(JSON.stringify({ ...r.summary, top: r.top }) + "\n");
      return 0;
    }
    const s = r.summary;
    const lines = [
      `tiny-gpt score: ${s.file} with the "${s.size}" checkpoint at step ${s.checkpointStep}`,
      `  tokens scored   ${s.tokens} (${s.bytes} of ${plural(s.inputBytes, "input byte")}; windows of ${s.context}, stride ${s.stride})`,
      `  mean surprisal  ${s.meanBits.toFixed(4)} bits/token (${s.meanLoss.toFixed(4)} nats, the training loss's unit)`,
      `  perplexity      ${s.perplexity.toFixed(3)}`,
      `  bits per byte   ${s.bitsPerByte.toFixed(4)}`,
      ...(r.top.length > 0 ? [`  most surprising tokens:`, ...r.top.map((t) => `    ${t.bits.toFixed(2).padStart(6)} bits  ${JSON.stringify(t.token).padEnd(8)} at ${String(t.index).padStart(6)}  ${inContext(t)}`)] : []),
      `  page: ${resolve(r.htmlPath)}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  } finally {
    bars?.stop();
  }
}
