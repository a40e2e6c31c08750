/**
 * `tiny-gpt train` and `tiny-gpt score` end to end, as a user runs them: a tiny run writes its
 * folder, scoring prints the figures and writes the page (from a file or standard input), Ctrl-C
 * keeps the checkpoint and the log and `--resume` continues, and every bad input is one line on
 * stderr (`tiny-gpt: …`) with exit code 2.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const CLI = ["--import", "tsx", fileURLToPath(new URL("../src/main.ts", import.meta.url))];
let dir: string;
let corpus: string;

function tinyGpt(args: string[], input?: string | Buffer): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: "utf8", timeout: 120_000, ...(input !== undefined ? { input } : {}) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const xent = (...args: string[]) => tinyGpt(args);

function assertUsage(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code ${r.code}; stderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^tiny-gpt: /);
  assert.match(lines[0]!, pattern);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "xent-cli-"));
  corpus = join(dir, "corpus.txt");
  writeFileSync(corpus, "the quick brown fox jumps over the lazy dog.\n".repeat(40));
  writeFileSync(join(dir, "empty.txt"), "  \n");
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("tiny-gpt train / score: a tiny run end to end", () => {
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
    writeFileSync(text, "the lazy fox jumps over the quick dog. zebra!\n");
    const ck = join(dir, "run", "checkpoint");
    const r = xent("score", "--checkpoint", ck, "--out", join(dir, "score"), "--stride", "8", text);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "all of the text is in the vocabulary: no warning");
    assert.match(r.stdout, /tokens scored +45 \(45 of 46 input bytes; windows of 16, stride 8\)/);
    assert.match(r.stdout, /mean surprisal +[\d.]+ bits\/token \([\d.]+ nats/);
    assert.match(r.stdout, /perplexity +[\d.]+/);
    assert.match(r.stdout, /bits per byte +[\d.]+/);
    assert.match(r.stdout, /most surprising tokens:\n +[\d.]+ bits +"."/);
    assert.match(r.stdout, /…[^\n]*\[.\][^\n]*…/, "each surprising token with text on both sides");
    assert.ok(existsSync(join(dir, "score", "surprisal.html")));
    const j = xent("score", "--checkpoint", ck, "--out", join(dir, "score"), "--stride", "8", "--json", "--top", "3", text);
    assert.equal(j.code, 0, j.stderr);
    const s = JSON.parse(j.stdout) as { tokens: number; meanLoss: number; meanBits: number; perplexity: number; bitsPerByte: number; bytes: number; inputBytes: number; top: { loss: number; bits: number }[] };
    assert.equal(s.tokens, 45);
    assert.equal(s.inputBytes, 46);
    assert.equal(s.bytes, 45);
    assert.equal(s.perplexity, Math.exp(s.meanLoss));
    assert.equal(s.meanBits, s.meanLoss / Math.LN2);
    assert.ok(Math.abs(s.bitsPerByte - (s.meanLoss * s.tokens) / Math.LN2 / s.bytes) < 1e-12);
    assert.equal(s.top.length, 3);
    assert.ok(s.top[0]!.loss >= s.top[1]!.loss && s.top[1]!.loss >= s.top[2]!.loss);
    assert.equal(s.top[0]!.bits, s.top[0]!.loss / Math.LN2);
    // --top 0: no list and no empty header
    const none = xent("score", "--checkpoint", ck, "--out", join(dir, "score"), "--top", "0", text);
    assert.equal(none.code, 0, none.stderr);
    assert.doesNotMatch(none.stdout, /most surprising/);
  });

  it("bits per byte count the input's bytes, out-of-vocabulary characters included", () => {
    const ck = join(dir, "run", "checkpoint");
    // "ñ" (2 bytes) is not in the vocabulary: it is scored as the unknown token but still 2 bytes
    const nino = join(dir, "nino.txt");
    writeFileSync(nino, "the niño ate");
    const r = xent("score", "--checkpoint", ck, "--out", join(dir, "score"), "--json", nino);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { tokens: number; bytes: number; inputBytes: number; unknownChars: number; meanLoss: number; bitsPerByte: number; top: { token: string }[] };
    assert.equal(s.inputBytes, 13);
    assert.equal(s.bytes, 12, "the 13 input bytes less the first token's");
    assert.equal(s.tokens, 11);
    assert.equal(s.unknownChars, 1);
    assert.ok(Math.abs(s.bitsPerByte - (s.meanLoss * s.tokens) / Math.LN2 / 12) < 1e-12);
    assert.ok(s.top.some((t) => t.token === "ñ"), "the original character is kept");
    assert.match(r.stderr, /^tiny-gpt score: .*nino\.txt: 8\.3% of its characters are outside the checkpoint's vocabulary; they are scored as the unknown token/);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1);
    // 3,000 random bytes: the file's own bytes, and one line saying it is not text
    const binary = join(dir, "binary.dat");
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919 + (i >> 3) * 31) & 255));
    writeFileSync(binary, bytes);
    const b = xent("score", "--checkpoint", ck, "--out", join(dir, "score"), "--json", "--top", "0", binary);
    assert.equal(b.code, 0, b.stderr);
    const sb = JSON.parse(b.stdout) as { bytes: number; inputBytes: number; invalidBytes: number };
    assert.equal(sb.inputBytes, 3000);
    assert.equal(sb.bytes, 2999);
    assert.ok(sb.invalidBytes > 300, `invalid bytes ${sb.invalidBytes}`);
    assert.match(b.stderr, /^tiny-gpt score: .*binary\.dat: [\d.]+% of its bytes are not UTF-8 text/);
    assert.equal(b.stderr.trimEnd().split("\n").length, 1);
  });

  it("score reads standard input for -, with the same figures as from the file", () => {
    const ck = join(dir, "run", "checkpoint");
    const text = "the quick dog jumps over the lazy fox.\n";
    const file = join(dir, "stdin.txt");
    writeFileSync(file, text);
    const fromFile = JSON.parse(xent("score", "--checkpoint", ck, "--out", join(dir, "score"), "--json", file).stdout) as Record<string, unknown>;
    const r = tinyGpt(["score", "--checkpoint", ck, "--out", join(dir, "score"), "--json", "-"], text);
    assert.equal(r.code, 0, r.stderr);
    const fromStdin = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(fromStdin.file, "standard input");
    assert.deepEqual({ ...fromStdin, file: "" }, { ...fromFile, file: "" });
    assertUsage(tinyGpt(["score", "--checkpoint", ck, "-"], "  \n"), /standard input is empty; expected some text/);
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
    assert.match(stdout, /continue with: tiny-gpt train --resume --out /);
    const records = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number });
    assert.ok(records.length >= 2);
    const ck = JSON.parse(readFileSync(join(out, "checkpoint", "config.json"), "utf8")) as { meta: { step: number }; model: { tied: boolean } };
    assert.equal(ck.meta.step, records[records.length - 1]!.step);
    assert.equal(ck.model.tied, true); // --tied
    assert.equal((JSON.parse(readFileSync(join(dir, "run", "checkpoint", "config.json"), "utf8")) as { model: { tied: boolean } }).model.tied, false);
    assert.ok(existsSync(join(out, "loss.svg")));
    // --resume continues from the checkpoint, with the run's own settings
    const stoppedAt = ck.meta.step;
    assertUsage(xent("train", "--resume", "--out", out, "--size", "small", "--seed", "2"), /--resume continues the run in .* with its own settings; leave out --size, --seed/);
    const resumed = xent("train", "--resume", "--out", out, "--steps", String(stoppedAt + 2), "--sample-length", "0");
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`resumed at step ${stoppedAt}`));
    const after = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number });
    assert.equal(after[after.length - 1]!.step, stoppedAt + 2);
  });

  it("train refuses a run folder that holds a run, unless --force", () => {
    const out = join(dir, "run");
    assertUsage(xent("train", "--size", "tiny", "--corpus", corpus, "--out", out), /run" already holds files|run already holds files/);
    const r = xent("train", "--size", "tiny", "--steps", "2", "--eval-every", "2", "--corpus", corpus, "--out", join(dir, "forced"), "--sample-length", "0");
    assert.equal(r.code, 0, r.stderr);
    const again = xent("train", "--size", "tiny", "--steps", "2", "--eval-every", "2", "--corpus", corpus, "--out", join(dir, "forced"), "--sample-length", "0", "--force");
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^tiny-gpt train: tiny model, 15,\d{3} parameters \(1 layer, width 32, 2 heads, context 16\)/);
    assert.match(again.stdout, /done\. val loss [\d.]+ nats\/token \(perplexity [\d.]+\) after 2 steps\./);
  });
});

describe("tiny-gpt train / score: bad input is one line and exit code 2", () => {
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
    assertUsage(xent("train", "--nope"), /^tiny-gpt: unknown option '--nope'$/);
    assertUsage(xent("frobnicate"), /^tiny-gpt: unknown command 'frobnicate'$/);
    assertUsage(xent("score", "--checkpoint", "x"), /^tiny-gpt: missing required argument 'file'$/);
  });
  it("a checkpoint from another model size", () => {
    assertUsage(xent("score", "--checkpoint", join(dir, "run", "checkpoint"), "--size", "small", corpus), /holds a "tiny" model; expected size "small"/);
    // a config that claims another size than its weights
    const bad = join(dir, "bad-ck");
    cpSync(join(dir, "run", "checkpoint"), bad, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(bad, "config.json"), "utf8")) as { model: { size: string; width: number } };
    cfg.model.width = 64;
    writeFileSync(join(bad, "config.json"), JSON.stringify(cfg));
    assertUsage(xent("score", "--checkpoint", bad, corpus), /says size "tiny" but has width 64; the "tiny" preset has width 32$/);
    writeFileSync(join(bad, "config.json"), "null");
    assertUsage(xent("score", "--checkpoint", bad, corpus), /config\.json: the file is null; expected an object written by tiny-gpt train$/);
  });
  it("a missing checkpoint, an empty text, a missing text", () => {
    assertUsage(xent("score", "--checkpoint", join(dir, "none"), corpus), /has no config\.json and weights\.bin/);
    assertUsage(xent("score", "--checkpoint", join(dir, "run", "checkpoint"), join(dir, "empty.txt")), /text file .* is empty/);
    assertUsage(xent("score", "--checkpoint", join(dir, "run", "checkpoint"), join(dir, "nope.txt")), /text file .* does not exist/);
  });
});
