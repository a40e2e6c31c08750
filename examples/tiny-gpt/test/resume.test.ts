/**
 * Resuming a run: Adam here computes what tfjs's Adam computes, bit for bit; a run stopped at
 * step K and resumed to N has the loss curve, batch losses and final weights of an uninterrupted
 * N-step run, bit for bit; and a folder that holds a run is refused unless forced.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { setupTf } from "../src/backend.js";
import { disposeParams } from "../src/checkpoint.js";
import { UsageError } from "../src/flags.js";
import { initParams, loss, type ModelConfig } from "../src/model.js";
import { batchAt } from "../src/data.js";
import { Adam } from "../src/optim.js";
import { CharTokenizer } from "../src/tokenizer.js";
import { train, type MetricsRecord, type TrainOptions } from "../src/train.js";

const TEXT = Array.from({ length: 60 }, (_, i) => `The cat number ${i} sat on the mat, and the dog ran after it ${i % 7} times.\n`).join("");

let dir: string;
let corpus: string;
before(async () => {
  await setupTf("wasm");
  dir = mkdtempSync(join(tmpdir(), "tiny-gpt-resume-"));
  corpus = join(dir, "corpus.txt");
  writeFileSync(corpus, TEXT);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function options(out: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return { steps: 9, size: "tiny", corpus, seed: 4, out, tokenizer: "char", evalEvery: 3, evalBatches: 2, sampleLength: 0, ...over };
}

/** Every number of a record that does not depend on the clock. */
const exact = (r: MetricsRecord): number[] => [r.step, r.trainLoss, r.valLoss, r.batchLoss, r.lr, r.tokens];

describe("Adam", () => {
  it("computes what tf.train.adam computes, bit for bit, and its saved state restores exactly", () => {
    const tok = CharTokenizer.fit(TEXT);
    const config: ModelConfig = { size: "tiny", vocabSize: tok.vocabSize, context: 16, layers: 1, width: 32, heads: 2, tied: false };
    const ids = tok.encode(TEXT);
    const a = initParams(config, 2);
    const b = initParams(config, 2);
    const c = initParams(config, 2);
    const ours = new Adam(1e-2, 0.9, 0.95, 1e-8);
    const theirs = tf.train.adam(1e-2, 0.9, 0.95, 1e-8);
    let restored: Adam | undefined;
    for (let step = 0; step < 6; step++) {
      const batch = batchAt(ids, [step * 7, step * 11 + 3], 16);
      const f = (p: typeof a) => () => loss(config, p, batch.x, batch.y, batch.batch, batch.context);
      const ga = tf.variableGrads(f(a), [...a.values()]);
      ours.step([...a.values()], [...a.values()].map((v) => ga.grads[v.name]!));
      const gb = tf.variableGrads(f(b), [...b.values()]);
      theirs.applyGradients([...b.values()].map((v) => ({ name: v.name, tensor: gb.grads[v.name]! })));
      // a third copy restarts from ours's saved state after step 2, as a resumed run does
      if (step === 2) {
        for (const [name, v] of a) c.get(name)!.assign(v);
        restored = new Adam(1e-2, 0.9, 0.95, 1e-8);
        restored.load([...c.values()], ours.state());
      } else if (restored !== undefined) {
        const gc = tf.variableGrads(f(c), [...c.values()]);
        restored.step([...c.values()], [...c.values()].map((v) => gc.grads[v.name]!));
        tf.dispose([gc.value, ...Object.values(gc.grads)]);
      }
      tf.dispose([ga.value, gb.value, ...Object.values(ga.grads), ...Object.values(gb.grads)]);
    }
    for (const [name, v] of a) {
      assert.deepEqual(v.dataSync(), b.get(name)!.dataSync(), `${name}: ours and tf.train.adam differ`);
      assert.deepEqual(v.dataSync(), c.get(name)!.dataSync(), `${name}: the restored optimiser differs`);
    }
    assert.equal(ours.iterations, 6);
    for (const o of [ours, theirs, restored!]) o.dispose();
    for (const p of [a, b, c]) disposeParams(p);
  });
});

describe("train --resume", () => {
  it("K steps, a stop, and a resume to N give the losses and weights of N uninterrupted steps", async () => {
    const whole = await train(options(join(dir, "whole")));
    const tensors = tf.memory().numTensors;
    let steps = 0;
    const stopped = await train(options(join(dir, "parts")), { onStep: (s) => (steps = s.step), shouldStop: () => steps >= 4 });
    assert.equal(stopped.interrupted, true);
    assert.equal(stopped.stepsDone, 4);
    const resumed = await train({ ...options(join(dir, "parts")), resume: true });
    assert.equal(tf.memory().numTensors, tensors, "stopping and resuming leak no tensors");
    assert.equal(resumed.interrupted, false);
    assert.equal(resumed.stepsDone, 9);
    assert.deepEqual(resumed.stepLosses, whole.stepLosses, "the batch loss of every step");
    // the resumed run's records: those of the uninterrupted run, plus the evaluation at the stop
    const scheduled = resumed.records.filter((r) => r.step !== 4);
    assert.deepEqual(scheduled.map(exact), whole.records.map(exact));
    assert.deepEqual(resumed.records.map((r) => r.step), [0, 3, 4, 6, 9]);
    const lines = readFileSync(join(dir, "parts", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as MetricsRecord);
    assert.deepEqual(lines.map(exact), resumed.records.map(exact));
    assert.deepEqual(readFileSync(join(dir, "parts", "checkpoint", "weights.bin")), readFileSync(join(dir, "whole", "checkpoint", "weights.bin")), "final weights");
    assert.deepEqual(readFileSync(join(dir, "parts", "checkpoint", "optimizer.bin")), readFileSync(join(dir, "whole", "checkpoint", "optimizer.bin")), "final Adam moments");
  });

  it("a finished run resumes only with more --steps, which then continue it", async () => {
    const out = join(dir, "whole");
    await assert.rejects(train({ ...options(out), resume: true }), (e: unknown) => e instanceof UsageError && /has done 9 of 9 steps; pass --steps with more than 9/.test(e.message));
    const more = await train({ ...options(out), resume: true, steps: 11, stepsGiven: true });
    assert.equal(more.stepsDone, 11);
    assert.deepEqual(more.records.map((r) => r.step), [0, 3, 6, 9, 11]);
  });

  it("resuming needs the same corpus and a checkpoint with its training state", async () => {
    const out = join(dir, "corpus-changed");
    await train(options(out, { steps: 3 }));
    writeFileSync(corpus, TEXT.replace("cat", "cow"));
    try {
      await assert.rejects(train({ ...options(out), resume: true, steps: 6, stepsGiven: true }), /is not the text the run in .* started on/);
    } finally {
      writeFileSync(corpus, TEXT);
    }
    rmSync(join(out, "checkpoint", "state.json"));
    await assert.rejects(train({ ...options(out), resume: true, steps: 6, stepsGiven: true }), /has no state\.json and optimizer\.bin, so it cannot be resumed/);
  });
});

describe("the run folder", () => {
  it("a folder that holds files is refused unless forced; --force replaces the run's own files only", async () => {
    const out = join(dir, "taken");
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "notes.txt"), "mine");
    await assert.rejects(train(options(out, { steps: 3 })), (e: unknown) => e instanceof UsageError && /already holds files \(notes\.txt\); pass --force to replace the run, --resume to continue it/.test(e.message));
    writeFileSync(join(out, "samples.txt"), "an old run's samples");
    const r = await train(options(out, { steps: 3, force: true }));
    assert.equal(r.stepsDone, 3);
    assert.equal(readFileSync(join(out, "notes.txt"), "utf8"), "mine", "a file that is not the run's is kept");
    assert.throws(() => readFileSync(join(out, "samples.txt")), /ENOENT/, "the old run's samples are gone (this run writes none)");
    // an empty folder is fine
    const empty = join(dir, "empty");
    mkdirSync(empty);
    assert.equal((await train(options(empty, { steps: 3 }))).stepsDone, 3);
  });
});
