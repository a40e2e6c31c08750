/**
 * The training loop: seeded init and batches, Adam with warm-up and cosine decay,
 * global-norm clipping, periodic train/validation evaluation, and a run folder with
 * metrics.jsonl, loss.svg, samples.txt and checkpoint/. Ctrl-C stops after the current step and
 * keeps everything written so far plus a checkpoint of that step, from which `resume` continues
 * with the weights, Adam's moments, the step, the batch order and the random state of that step:
 * the resumed run's losses are those of an uninterrupted run, bit for bit.
 */
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { crossEntropy } from "xent";
import type { SaveStep } from "./checkpoint-file.js";
import { CheckpointError, disposeParams, loadCheckpoint, readTrainingSnapshot, saveCheckpoint } from "./checkpoint.js";
import { evalBatches, loadDefaultCorpus, randomBatch, readText, Rng, split, type Batch } from "./data.js";
import { plural, UsageError } from "./flags.js";
import { forward, initParams, loss, paramCount, SIZES, type ModelConfig, type Params } from "./model.js";
import { Adam } from "./optim.js";
import { lossChartSvg, type LossPoint } from "./plot.js";
import { generate } from "./sample.js";
import { CharTokenizer, Gpt2Tokenizer, type Tokenizer, type TokenizerKind } from "./tokenizer.js";

export interface TrainOptions {
  steps: number;
  size: string;
  /** A UTF-8 text file, or undefined for the bundled nlp-corpus sentences. */
  corpus?: string;
  seed: number;
  out: string;
  tokenizer: TokenizerKind;
  /** Evaluate (and log, and checkpoint) every this many steps, and at the last step. */
  evalEvery: number;
  /** Batches of EVAL_BATCH sequences of each split per evaluation. */
  evalBatches: number;
  /** Override the preset's batch size. */
  batch?: number;
  /** Override the preset's learning rate. */
  learningRate?: number;
  /** Generated characters per sample in samples.txt (0: none). */
  sampleLength: number;
  /**
   * Tie the LM head to the token embedding. Default false: on characters the untied head gets
   * past the unigram plateau much sooner (val loss 2.60 against 3.02 after 150 steps, seed 1).
   */
  tied?: boolean;
  /** Replace the run already in `out` (without it, a folder holding a run is refused). */
  force?: boolean;
  /**
   * Continue the run in `out` from its checkpoint, with the settings it was started with; only
   * `steps` (when `stepsGiven`) and `sampleLength` are taken from these options.
   */
  resume?: boolean;
  /** With `resume`: `steps` was given, and replaces the run's own (the schedule follows it). */
  stepsGiven?: boolean;
  /** Called at each step of every checkpoint save (tests stop the process there). */
  onSave?(step: SaveStep): void;
}

/** The settings a run was started with, saved in its checkpoint (state.json) for `resume`. */
export interface RunSettings {
  steps: number;
  size: string;
  corpus?: string;
  /** SHA-256 of the corpus text: a resumed run must read the same text. */
  corpusSha256: string;
  seed: number;
  tokenizer: TokenizerKind;
  evalEvery: number;
  evalBatches: number;
  batch: number;
  learningRate: number;
  tied: boolean;
}

/** state.json: the settings, and where the run stands. */
interface RunState {
  format: "tiny-gpt-run/1";
  settings: RunSettings;
  step: number;
  rngState: number;
  tokens: number;
  elapsedSec: number;
  records: MetricsRecord[];
  stepLosses: number[];
}

export interface MetricsRecord extends LossPoint {
  trainPpl: number;
  valPpl: number;
  /** Mean training-batch loss of the steps since the previous scheduled evaluation. */
  batchLoss: number;
  lr: number;
  tokens: number;
  elapsedSec: number;
  tokensPerSec: number;
}

/** What the loop reports while it runs: the CLI draws the progress bar and prints the lines. */
export interface TrainHooks {
  onStart?(info: { config: ModelConfig; params: number; trainTokens: number; valTokens: number; steps: number; batch: number; settings: RunSettings; resumedAt?: number | undefined }): void;
  onStep?(info: { step: number; steps: number; loss: number; tokensPerSec: number }): void;
  onEval?(record: MetricsRecord): void;
  /** Polled after every step: true stops the run early (Ctrl-C). */
  shouldStop?(): boolean;
}

export interface TrainResult {
  config: ModelConfig;
  settings: RunSettings;
  records: MetricsRecord[];
  /** The training-batch loss of every step from the first. */
  stepLosses: number[];
  interrupted: boolean;
  stepsDone: number;
  out: string;
}

/** Sequences per evaluation batch (`evalBatches` of them per split). */
export const EVAL_BATCH = 16;

export function buildTokenizer(kind: TokenizerKind, trainText: string): Tokenizer {
  // characters rarer than about 1 in 100 000 map to UNK: they cost vocabulary and teach little
  return kind === "gpt2" ? new Gpt2Tokenizer() : CharTokenizer.fit(trainText, Math.max(1, Math.floor(trainText.length / 100_000)));
}

/** Mean loss (nats/token) of fixed batches, forward only, through xent's core crossEntropy. */
export function evaluate(config: ModelConfig, params: Params, batches: readonly Batch[]): number {
  let sum = 0;
  let count = 0;
  for (const b of batches) {
    const logits = forward(config, params, b.x, b.batch, b.context);
    const data = logits.dataSync() as Float32Array;
    logits.dispose();
    sum += crossEntropy(data, b.y, { classes: config.vocabSize, reduction: "sum" }).loss as number;
    count += b.y.length;
  }
  return sum / count;
}

function learningRate(step: number, steps: number, peak: number): number {
  const warmup = Math.max(1, Math.min(20, Math.floor(steps / 10)));
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const progress = (step - warmup) / Math.max(1, steps - warmup);
  return peak * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** One optimiser step: gradients of the xent loss, clipped to global norm 1, then Adam. Returns the batch loss. */
function trainStep(config: ModelConfig, params: Params, opt: Adam, b: Batch): number {
  const vars = [...params.values()];
  const { value, grads } = tf.variableGrads(() => loss(config, params, b.x, b.y, b.batch, b.context), vars);
  const lossValue = value.dataSync()[0]!;
  tf.tidy(() => {
    const norm = Math.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))).dataSync()[0]!);
    const scale = norm > 1 ? 1 / norm : 1;
    opt.step(
      vars,
      vars.map((v) => (scale === 1 ? grads[v.name]! : tf.mul(grads[v.name]!, scale))),
    );
  });
  tf.dispose([value, ...Object.values(grads)]);
  return lossValue;
}

/** Files a run writes in its folder. */
const RUN_FILES = ["metrics.jsonl", "loss.svg", "samples.txt", "checkpoint", "checkpoint.tmp", "checkpoint.old"];

/** Refuse to overwrite a run folder unless `force`; with `force`, clear the run's own files (only those). */
function prepareRunFolder(out: string, force: boolean): void {
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new UsageError(`--out ${JSON.stringify(out)} is a file; expected a folder for the run`);
    const present = readdirSync(out);
    if (present.length > 0 && !force) {
      const shown = present.slice(0, 4).join(", ") + (present.length > 4 ? ", …" : "");
      throw new UsageError(`${out} already holds files (${shown}); pass --force to replace the run, --resume to continue it, or --out another folder`);
    }
    if (force) for (const f of RUN_FILES) rmSync(join(out, f), { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The run to resume from `out`/checkpoint: its settings, state and model (checked). */
function readRun(o: TrainOptions): { settings: RunSettings; state: RunState; ck: ReturnType<typeof loadCheckpoint>; adam: ReturnType<typeof readTrainingSnapshot>["adam"] } {
  const ck = loadCheckpoint(join(o.out, "checkpoint"));
  try {
    const snap = readTrainingSnapshot(ck.path);
    const state = snap.state as Partial<RunState>;
    if (state.format !== "tiny-gpt-run/1" || typeof state.settings !== "object" || !Array.isArray(state.records) || !Array.isArray(state.stepLosses) || typeof state.step !== "number" || typeof state.rngState !== "number") {
      throw new CheckpointError(`checkpoint ${JSON.stringify(ck.path)}: state.json is not a tiny-gpt run state ("tiny-gpt-run/1")`);
    }
    if (state.step !== ck.meta.step) throw new CheckpointError(`checkpoint ${JSON.stringify(ck.path)}: state.json is at step ${state.step} but config.json at step ${ck.meta.step}`);
    return { settings: state.settings, state: state as RunState, ck, adam: snap.adam };
  } catch (e) {
    disposeParams(ck.params);
    throw e;
  }
}

/** Train a tiny GPT and write its run folder (or continue the run in it, with `resume`). */
export async function train(o: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const resumed = o.resume === true ? readRun(o) : undefined;
  let settings: RunSettings;
  let text: string;
  let tok: Tokenizer;
  if (resumed !== undefined) {
    settings = { ...resumed.settings, ...(o.stepsGiven === true ? { steps: o.steps } : {}) };
    if (settings.steps <= resumed.state.step) {
      disposeParams(resumed.ck.params);
      throw new UsageError(`the run in ${o.out} has done ${resumed.state.step} of ${plural(settings.steps, "step")}; pass --steps with more than ${resumed.state.step} to train on`);
    }
    text = settings.corpus === undefined ? loadDefaultCorpus() : readText(settings.corpus);
    if (sha256(text) !== settings.corpusSha256) {
      disposeParams(resumed.ck.params);
      throw new UsageError(`the corpus ${settings.corpus === undefined ? "(nlp-corpus)" : JSON.stringify(settings.corpus)} is not the text the run in ${o.out} started on`);
    }
    tok = resumed.ck.tokenizer;
  } else {
    const preset = SIZES[o.size];
    if (preset === undefined) throw new UsageError(`--size is "${o.size}"; expected one of ${Object.keys(SIZES).join(", ")}`);
    text = o.corpus === undefined ? loadDefaultCorpus() : readText(o.corpus);
    prepareRunFolder(o.out, o.force === true);
    // the tokenizer's vocabulary comes from the training part only (the tail is held out)
    tok = buildTokenizer(o.tokenizer, text.slice(0, Math.floor(text.length * 0.9)));
    settings = {
      steps: o.steps,
      size: o.size,
      ...(o.corpus !== undefined ? { corpus: o.corpus } : {}),
      corpusSha256: sha256(text),
      seed: o.seed,
      tokenizer: o.tokenizer,
      evalEvery: o.evalEvery,
      evalBatches: o.evalBatches,
      batch: o.batch ?? preset.batch,
      learningRate: o.learningRate ?? preset.learningRate,
      tied: o.tied ?? false,
    };
  }
  const preset = SIZES[settings.size]!;
  const splits = split(tok.encode(text), preset.context);
  const config: ModelConfig = resumed?.ck.config ?? {
    size: settings.size,
    vocabSize: tok.vocabSize,
    context: preset.context,
    layers: preset.layers,
    width: preset.width,
    heads: preset.heads,
    tied: settings.tied,
  };
  const { batch, learningRate: peak, steps, evalEvery } = settings;

  const metricsPath = join(o.out, "metrics.jsonl");
  const params = resumed?.ck.params ?? initParams(config, settings.seed);
  const opt = new Adam(peak, 0.9, 0.95, 1e-8);
  if (resumed !== undefined) opt.load([...params.values()], resumed.adam);
  const random = new Rng(resumed?.state.rngState ?? settings.seed);
  // the evaluation sets do not depend on the training batch size, so runs compare
  const trainEval = evalBatches(splits.train, settings.evalBatches, EVAL_BATCH, config.context);
  const valEval = evalBatches(splits.val, settings.evalBatches, EVAL_BATCH, config.context);
  hooks.onStart?.({ config, params: paramCount(params), trainTokens: splits.train.length, valTokens: splits.val.length, steps, batch, settings, resumedAt: resumed?.state.step });

  const records: MetricsRecord[] = resumed?.state.records ?? [];
  const stepLosses: number[] = resumed?.state.stepLosses ?? [];
  // metrics.jsonl holds the records up to the checkpoint (lines a stopped run wrote after it go)
  writeFileSync(metricsPath, records.map((r) => JSON.stringify(r) + "\n").join(""));
  const t0 = performance.now() - (resumed?.state.elapsedSec ?? 0) * 1000;
  let tokens = resumed?.state.tokens ?? 0;
  let step = resumed?.state.step ?? 0;
  let lr = peak;
  const record = (): MetricsRecord => {
    const trainLoss = evaluate(config, params, trainEval);
    const valLoss = evaluate(config, params, valEval);
    const elapsedSec = (performance.now() - t0) / 1000;
    // the batch losses since the last scheduled evaluation, whatever stops came between
    const since = stepLosses.slice(step === 0 ? 0 : Math.floor((step - 1) / evalEvery) * evalEvery, step);
    const r: MetricsRecord = {
      step,
      trainLoss,
      valLoss,
      trainPpl: Math.exp(trainLoss),
      valPpl: Math.exp(valLoss),
      batchLoss: since.length > 0 ? since.reduce((a, b) => a + b, 0) / since.length : trainLoss,
      lr,
      tokens,
      elapsedSec,
      tokensPerSec: elapsedSec > 0 ? tokens / elapsedSec : 0,
    };
    records.push(r);
    appendFileSync(metricsPath, JSON.stringify(r) + "\n");
    hooks.onEval?.(r);
    return r;
  };
  const checkpoint = (): void => {
    const valLoss = records[records.length - 1]?.valLoss;
    const state: RunState = { format: "tiny-gpt-run/1", settings, step, rngState: random.state, tokens, elapsedSec: (performance.now() - t0) / 1000, records, stepLosses };
    saveCheckpoint(join(o.out, "checkpoint"), config, params, tok, { step, seed: settings.seed, ...(valLoss !== undefined ? { valLoss } : {}) }, { state, adam: opt.state() }, o.onSave);
  };

  if (resumed === undefined) record();
  let interrupted = false;
  while (step < steps) {
    lr = learningRate(step, steps, peak);
    opt.learningRate = lr;
    const b = randomBatch(splits.train, batch, config.context, random.next);
    const l = trainStep(config, params, opt, b);
    step++;
    tokens += b.y.length;
    stepLosses.push(l);
    hooks.onStep?.({ step, steps, loss: l, tokensPerSec: tokens / ((performance.now() - t0) / 1000) });
    // let signals (Ctrl-C) and output through between steps
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (hooks.shouldStop?.()) {
      interrupted = true;
      break;
    }
    if (step % evalEvery === 0 || step === steps) {
      record();
      checkpoint();
    }
  }
  if (interrupted) {
    if (records[records.length - 1]?.step !== step) record();
    checkpoint();
  }

  writeFileSync(join(o.out, "loss.svg"), await lossChartSvg(records, `tiny GPT (${settings.size}, ${settings.tokenizer}) trained with xent`, Math.log(config.vocabSize), stepLosses));
  if (o.sampleLength > 0 && !interrupted) {
    const prompts = ["The ", "I think ", "In the "];
    const sampleRandom = new Rng(settings.seed + 7);
    const samples = prompts.map((pr) => generate(config, params, tok, pr, o.sampleLength, sampleRandom.next));
    writeFileSync(join(o.out, "samples.txt"), samples.map((s, i) => `--- sample ${i + 1} (prompt ${JSON.stringify(prompts[i])}, temperature 0.8)\n${s}\n`).join("\n"));
  }
  opt.dispose();
  disposeParams(params);
  return { config, settings, records, stepLosses, interrupted, stepsDone: step, out: o.out };
}
