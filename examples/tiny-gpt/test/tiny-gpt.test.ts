/**
 * The tiny GPT trained with xent: the loss falls on a repeated batch, the same seed gives the
 * same loss curve, the run folder is complete, and scoring figures agree with the core API.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { crossEntropy, perplexity } from "xent";
import { setupTf } from "../src/backend.js";
import { CheckpointError, disposeParams, loadCheckpoint } from "../src/checkpoint.js";
import { batchAt, rng } from "../src/data.js";
import { forward, initParams, loss, type ModelConfig } from "../src/model.js";
import { figures, surprisal, windows } from "../src/score.js";
import { CharTokenizer, Gpt2Tokenizer, UNK, tokenizerFromJSON } from "../src/tokenizer.js";
import { train, type TrainOptions } from "../src/train.js";

const TEXT = Array.from({ length: 60 }, (_, i) => `The cat number ${i} sat on the mat, and the dog ran after it ${i % 7} times.\n`).join("");

let dir: string;
let corpus: string;

before(async () => {
  await setupTf("wasm");
  dir = mkdtempSync(join(tmpdir(), "xent-tiny-gpt-"));
  corpus = join(dir, "corpus.txt");
  writeFileSync(corpus, TEXT);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function options(out: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return { steps: 6, size: "tiny", corpus, seed: 5, out, tokenizer: "char", evalEvery: 3, evalBatches: 2, sampleLength: 20, ...over };
}

describe("tiny GPT: training", () => {
  it("the loss falls over a handful of steps on a repeated batch", () => {
    const tok = CharTokenizer.fit(TEXT);
    const config: ModelConfig = { size: "tiny", vocabSize: tok.vocabSize, context: 16, layers: 1, width: 32, heads: 2, tied: true };
    const params = initParams(config, 3);
    const ids = tok.encode(TEXT);
    const b = batchAt(ids, [0, 40, 80, 120], 16);
    const opt = tf.train.adam(1e-2);
    const losses: number[] = [];
    for (let step = 0; step < 8; step++) {
      const l = opt.minimize(() => loss(config, params, b.x, b.y, b.batch, b.context), true)!;
      losses.push(l.dataSync()[0]!);
      l.dispose();
    }
    // starts near ln V (uniform guess) and falls
    assert.ok(Math.abs(losses[0]! - Math.log(tok.vocabSize)) < 0.1, `first loss ${losses[0]} vs ln V ${Math.log(tok.vocabSize)}`);
    assert.ok(losses[7]! < losses[0]! - 0.5, `loss did not fall: ${losses.map((x) => x.toFixed(3)).join(", ")}`);
    for (let i = 1; i < losses.length; i++) assert.ok(losses[i]! < losses[i - 1]!, `step ${i}: ${losses[i]} >= ${losses[i - 1]}`);
    opt.dispose();
    disposeParams(params);
  });

  it("the same seed gives the same loss curve; another seed a different one", async () => {
    const a = await train(options(join(dir, "a")));
    const tensorsAfterA = tf.memory().numTensors;
    const b = await train(options(join(dir, "b")));
    assert.equal(tf.memory().numTensors, tensorsAfterA, "a whole training run leaks no tensors");
    const c = await train(options(join(dir, "c"), { seed: 6 }));
    const curve = (r: typeof a): number[][] => r.records.map((x) => [x.step, x.trainLoss, x.valLoss, x.batchLoss]);
    assert.deepEqual(curve(a).map((x) => x[0]), [0, 3, 6]);
    assert.deepEqual(curve(a), curve(b));
    assert.notDeepEqual(curve(a), curve(c));
    // metrics.jsonl holds the same records, one JSON object per line
    const lines = readFileSync(join(dir, "a", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; trainLoss: number; valLoss: number });
    assert.deepEqual(lines.map((l) => [l.step, l.trainLoss, l.valLoss]), a.records.map((x) => [x.step, x.trainLoss, x.valLoss]));
  });

  it("writes the run folder: metrics.jsonl, loss.svg, samples.txt, checkpoint/", () => {
    const out = join(dir, "a");
    for (const f of ["metrics.jsonl", "loss.svg", "samples.txt", "checkpoint/config.json", "checkpoint/weights.bin"]) {
      assert.ok(existsSync(join(out, f)), `missing ${f}`);
    }
    const svg = readFileSync(join(out, "loss.svg"), "utf8");
    assert.match(svg, /^<svg/);
    assert.match(svg, /validation/);
    assert.match(svg, /<path/);
    assert.match(readFileSync(join(out, "samples.txt"), "utf8"), /sample 1 \(prompt "The "/);
    const ck = loadCheckpoint(join(out, "checkpoint"));
    assert.equal(ck.meta.step, 6);
    assert.equal(ck.config.size, "tiny");
    disposeParams(ck.params);
  });

  it("a checkpoint of another size is refused with a message naming both", () => {
    assert.throws(() => loadCheckpoint(join(dir, "a", "checkpoint"), "small"), (e: unknown) => e instanceof CheckpointError && /holds a "tiny" model; expected size "small"/.test(e.message));
    assert.throws(() => loadCheckpoint(join(dir, "nowhere")), CheckpointError);
  });
});

describe("tiny GPT: tokenizers", () => {
  it("characters: fitted vocabulary, rare characters to UNK, JSON round trip", () => {
    const tok = CharTokenizer.fit("aab€€€c", 2);
    assert.deepEqual(tok.chars, [UNK, "a", "€"]);
    assert.deepEqual(Array.from(tok.encode("a€bz")), [1, 2, 0, 0]);
    const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())) as ReturnType<typeof tok.toJSON>);
    assert.equal(back.decode(tok.encode("€a")), "€a");
  });

  it("GPT-2 BPE: 50257 tokens, pieces that join back to the text, and a model that trains on it", async () => {
    const tok = new Gpt2Tokenizer();
    assert.equal(tok.vocabSize, 50257);
    const ids = tok.encode("Hello world, cross-entropy!");
    assert.deepEqual(Array.from(ids), [15496, 995, 11, 3272, 12, 298, 28338, 0]);
    assert.equal(tok.pieces(ids).join(""), "Hello world, cross-entropy!");
    const r = await train(options(join(dir, "gpt2"), { tokenizer: "gpt2", steps: 2, evalEvery: 2, evalBatches: 1, sampleLength: 3 }));
    assert.equal(r.config.vocabSize, 50257);
    assert.ok(Math.abs(r.records[0]!.trainLoss - Math.log(50257)) < 0.05, `initial loss ${r.records[0]!.trainLoss} vs ln 50257`);
    assert.ok(r.records[1]!.trainLoss < r.records[0]!.trainLoss);
  });
});

describe("tiny GPT: scoring", () => {
  it("windows score every token once, with at least context - stride tokens of history", () => {
    const r = rng(11).next;
    for (let trial = 0; trial < 200; trial++) {
      const length = 2 + Math.floor(r() * 300);
      const context = 1 + Math.floor(r() * 40);
      const stride = 1 + Math.floor(r() * context);
      const seen = new Int32Array(length);
      for (const w of windows(length, context, stride)) {
        assert.ok(w.end - w.begin - 1 <= context && w.end <= length);
        for (let pos = w.from; pos < w.end; pos++) {
          seen[pos]!++;
          assert.ok(pos - w.begin >= Math.min(pos, context - stride + 1), `history of ${pos} is ${pos - w.begin}`);
        }
      }
      assert.equal(seen[0], 0);
      for (let pos = 1; pos < length; pos++) assert.equal(seen[pos], 1, `L=${length} T=${context} stride=${stride}: token ${pos}`);
    }
  });

  it("per-token losses, mean loss and perplexity = exp(mean) agree with the core crossEntropy", async () => {
    const ck = loadCheckpoint(join(dir, "a", "checkpoint"));
    const { config, params, tokenizer } = ck;
    const text = "The dog sat on t"; // 16 characters: one window of 15 targets
    const ids = tokenizer.encode(text);
    const losses = await surprisal(config, params, ids, config.context);
    const logits = forward(config, params, ids.subarray(0, ids.length - 1), 1, ids.length - 1);
    const data = logits.dataSync() as Float32Array;
    logits.dispose();
    const target = ids.subarray(1);
    const perToken = crossEntropy(data, target, { classes: config.vocabSize, reduction: "none" }).loss as Float32Array;
    assert.ok(Number.isNaN(losses[0]!));
    assert.deepEqual(Array.from(losses.subarray(1)), Array.from(perToken));
    const f = figures(losses, 15);
    const mean = crossEntropy(data, target, { classes: config.vocabSize }).loss as number;
    assert.ok(Math.abs(f.meanLoss - mean) < 1e-6 * mean, `mean ${f.meanLoss} vs core ${mean}`);
    assert.ok(Math.abs(f.perplexity - perplexity(data, target, { classes: config.vocabSize })) < 1e-5 * f.perplexity);
    assert.equal(f.perplexity, Math.exp(f.meanLoss));
    assert.equal(f.tokens, ids.length - 1);
    const totalBits = Array.from(perToken).reduce((a, b) => a + b, 0) / Math.LN2;
    assert.ok(Math.abs(f.bitsPerByte - totalBits / 15) < 1e-9 * f.bitsPerByte, `bits per byte ${f.bitsPerByte} vs ${totalBits / 15}`);
    assert.equal(f.meanBits, f.meanLoss / Math.LN2);
    disposeParams(params);
  });

  it("a long text in strided windows: each token's loss is the model's with that window's history", async () => {
    const ck = loadCheckpoint(join(dir, "a", "checkpoint"));
    const { config, params, tokenizer } = ck;
    const ids = tokenizer.encode(TEXT.slice(0, 100));
    const stride = 5;
    const losses = await surprisal(config, params, ids, stride);
    const ws = windows(ids.length, config.context, stride);
    const w = ws[3]!;
    const n = w.end - w.begin - 1;
    const logits = forward(config, params, ids.subarray(w.begin, w.end - 1), 1, n);
    const want = crossEntropy(logits.dataSync() as Float32Array, ids.subarray(w.begin + 1, w.end), { classes: config.vocabSize, reduction: "none" }).loss as Float32Array;
    logits.dispose();
    for (let pos = w.from; pos < w.end; pos++) assert.equal(losses[pos], want[pos - w.begin - 1]);
    assert.ok(losses.subarray(1).every((x) => Number.isFinite(x) && x >= 0));
    disposeParams(params);
  });
});
