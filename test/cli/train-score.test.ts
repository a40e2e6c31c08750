/**
 * `xent train` and `xent score` end to end, as a user runs them: a tiny run writes its folder,
 * scoring prints the figures and writes the page, Ctrl-C keeps the checkpoint and the log, and
 * every bad input is one line on stderr with exit code 2.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

const CLI = ["--import", "tsx", "src/cli/main.ts"];
let dir: string;
let corpus: string;

function xent(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertUsage(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code ${r.code}; stderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "xent-cli-"));
  corpus = join(dir, "corpus.txt");
  writeFileSync(corpus, "the quick brown fox jumps over the lazy dog.\n".repeat(40));
  writeFileSync(join(dir, "empty.txt"), "  \n");
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("xent train / score: a tiny run end to end", () => {
  it("train writes metrics.jsonl, loss.svg, samples.txt and a checkpoint, with the loss falling", () => {
    const out = join(dir, "run");
    const r = xent("train", "--size", "tiny", "--steps", "12", "--eval-every", "6", "--corpus", corpus, "--out", out, "--seed", "3", "--sample-length", "10");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /step +0 \| train loss [\d.]+ \(ppl [\d.]+\) \| val loss/);
    assert.match(r.stdout, /done\. val loss/);
    const records = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; trainLoss: number; valLoss: number });
    assert.deepEqual(records.map((x) => x.step), [0, 6, 12]);
    assert.ok(records[2]!.trainLoss < records[0]!.trainLoss - 0.3, `train loss ${records[0]!.trainLoss} -> ${records[2]!.trainLoss}`);
    for (const f of ["loss.svg", "samples.txt", "checkpoint/config.json", "checkpoint/weights.bin"]) assert.ok(existsSync(join(out, f)), f);
  });

  it("score prints the figures, lists surprising tokens and writes the page; --json agrees", () => {
    const text = join(dir, "text.txt");
    writeFileSync(text, "the lazy fox jumps over the quick dog. Zebra!\n");
    const ck = join(dir, "run", "checkpoint");
    const r = xent("score", "--checkpoint", ck, "--out", join(dir, "score"), "--stride", "8", text);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /mean loss +[\d.]+ nats\/token/);
    assert.match(r.stdout, /perplexity +[\d.]+/);
    assert.match(r.stdout, /bits per byte +[\d.]+/);
    assert.match(r.stdout, /most surprising tokens/);
    assert.ok(existsSync(join(dir, "score", "surprisal.html")));
    const j = xent("score", "--checkpoint", ck, "--out", join(dir, "score"), "--stride", "8", "--json", "--top", "3", text);
    assert.equal(j.code, 0, j.stderr);
    const s = JSON.parse(j.stdout) as { tokens: number; meanLoss: number; perplexity: number; bitsPerByte: number; bytes: number; top: { loss: number }[] };
    assert.equal(s.tokens, 45);
    assert.equal(s.perplexity, Math.exp(s.meanLoss));
    assert.ok(Math.abs(s.bitsPerByte - (s.meanLoss * s.tokens) / Math.LN2 / s.bytes) < 1e-12);
    assert.equal(s.top.length, 3);
    assert.ok(s.top[0]!.loss >= s.top[1]!.loss && s.top[1]!.loss >= s.top[2]!.loss);
  });

  it("Ctrl-C stops the run, keeps the loss log and a checkpoint, and exits 130", async () => {
    const out = join(dir, "interrupted");
    const child = spawn(process.execPath, [...CLI, "train", "--size", "tiny", "--tied", "--steps", "100000", "--eval-every", "5", "--corpus", corpus, "--out", out], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (/step +5 \|/.test(stdout) && !child.killed) child.kill("SIGINT");
      });
      child.on("close", (c) => resolve(c));
    });
    assert.equal(code, 130, stdout);
    assert.match(stdout, /stopped at step \d+; kept .*metrics\.jsonl/);
    const records = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number });
    assert.ok(records.length >= 2);
    const ck = JSON.parse(readFileSync(join(out, "checkpoint", "config.json"), "utf8")) as { meta: { step: number }; model: { tied: boolean } };
    assert.equal(ck.meta.step, records[records.length - 1]!.step);
    assert.equal(ck.model.tied, true); // --tied
    assert.equal((JSON.parse(readFileSync(join(dir, "run", "checkpoint", "config.json"), "utf8")) as { model: { tied: boolean } }).model.tied, false);
    assert.ok(existsSync(join(out, "loss.svg")));
  });
});

describe("xent train / score: bad input is one line and exit code 2", () => {
  it("a missing corpus file", () => assertUsage(xent("train", "--corpus", join(dir, "nope.txt"), "--out", join(dir, "x")), /corpus file ".*nope\.txt" does not exist/));
  it("an empty corpus", () => assertUsage(xent("train", "--corpus", join(dir, "empty.txt"), "--out", join(dir, "x")), /corpus file .* is empty/));
  it("flags out of range", () => {
    assertUsage(xent("train", "--steps", "0"), /--steps is "0"; expected an integer in \[1, 1000000\]/);
    assertUsage(xent("train", "--steps", "2.5"), /--steps is "2.5"/);
    assertUsage(xent("train", "--size", "huge"), /--size is "huge"; expected one of tiny, small, medium/);
    assertUsage(xent("train", "--seed", "-1"), /--seed is "-1"/);
    assertUsage(xent("train", "--tokenizer", "bpe"), /--tokenizer is "bpe"/);
    assertUsage(xent("score", "--checkpoint", join(dir, "run", "checkpoint"), "--stride", "0", corpus), /--stride is "0"/);
    assertUsage(xent("score", "--checkpoint", join(dir, "run", "checkpoint"), "--stride", "999", corpus), /--stride is 999; expected an integer in \[1, 16\]/);
  });
  it("a checkpoint from another model size", () => {
    assertUsage(xent("score", "--checkpoint", join(dir, "run", "checkpoint"), "--size", "small", corpus), /holds a "tiny" model; expected size "small"/);
    // a config that claims another size than its weights
    const bad = join(dir, "bad-ck");
    cpSync(join(dir, "run", "checkpoint"), bad, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(bad, "config.json"), "utf8")) as { model: { size: string; width: number } };
    cfg.model.width = 64;
    writeFileSync(join(bad, "config.json"), JSON.stringify(cfg));
    assertUsage(xent("score", "--checkpoint", bad, corpus), /says size "tiny" but has width 64/);
  });
  it("a missing checkpoint, an empty text, a missing text", () => {
    assertUsage(xent("score", "--checkpoint", join(dir, "none"), corpus), /has no config\.json and weights\.bin/);
    assertUsage(xent("score", "--checkpoint", join(dir, "run", "checkpoint"), join(dir, "empty.txt")), /text file .* is empty/);
    assertUsage(xent("score", "--checkpoint", join(dir, "run", "checkpoint"), join(dir, "nope.txt")), /text file .* does not exist/);
  });
});

it("a missing trainer package becomes a one-line usage error naming what to install", async () => {
  const { explainMissingPackage, TRAINER_PACKAGES } = await import("../../src/cli/trainer.js");
  const { UsageError } = await import("../../src/cli/util.js");
  const missing = Object.assign(new Error("Cannot find package 'vega-lite' imported from /x/plot.js"), { code: "ERR_MODULE_NOT_FOUND" });
  const e = explainMissingPackage(missing, "train");
  assert.ok(e instanceof UsageError);
  assert.match((e as Error).message, /^xent train needs the trainer's packages \(vega-lite is missing\); install them with: npm install /);
  for (const p of TRAINER_PACKAGES) assert.ok((e as Error).message.includes(p));
  const other = new Error("boom");
  assert.equal(explainMissingPackage(other, "train"), other, "other errors pass through");
});
