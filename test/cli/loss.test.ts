/** `xent loss`: the worked example, bits, logits, JSON, and one-line errors with exit code 2. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { crossEntropy, softmax } from "../../src/index.js";
import { assertClose } from "../helpers/close.js";

const main = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

function xent(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", main, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("xent loss --probs 0.7,0.2,0.1 --target 0 prints 0.356675 nats", () => {
  const r = xent("loss", "--probs", "0.7,0.2,0.1", "--target", "0");
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, "0.356675 nats\n");
});

test("--bits prints bits", () => {
  const r = xent("loss", "--probs", "0.7,0.2,0.1", "--target", "0", "--bits");
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, `${(-Math.log2(0.7)).toFixed(6)} bits\n`);
});

test("--logits with --json prints the loss, probabilities and gradient from the API", () => {
  const r = xent("loss", "--logits", "1,2,-inf,0.5", "--target", "1", "--json", "--label-smoothing", "0", "--softcap", "10");
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { loss: number; unit: string; probs: number[]; grad: number[] };
  const want = crossEntropy([1, 2, -Infinity, 0.5], [1], { classes: 4, grad: true, softcap: 10 });
  assert.equal(j.unit, "nats");
  assertClose(j.loss, want.loss as number, { atol: 0, rtol: 1e-15 }, "loss");
  assertClose(j.grad, want.grad!, { atol: 0, rtol: 1e-15 }, "grad");
  assertClose(j.probs, softmax([1, 2, -Infinity, 0.5], { classes: 4, softcap: 10 }), { atol: 0, rtol: 1e-15 }, "probs");
});

test("+inf with --softcap is the library's capped loss; -inf masks a class", () => {
  for (const spelling of ["inf", "+inf", "Infinity", "+Infinity"]) {
    const r = xent("loss", "--logits", `1,${spelling},2`, "--target", "0", "--softcap", "5", "--json");
    assert.equal(r.code, 0, r.err);
    const want = crossEntropy([1, Infinity, 2], [0], { classes: 3, grad: true, softcap: 5 });
    assert.ok(Number.isFinite(want.loss as number));
    assertClose((JSON.parse(r.out) as { loss: number }).loss, want.loss as number, { atol: 0, rtol: 1e-15 }, spelling);
  }
  for (const spelling of ["-inf", "-Infinity", "-INF"]) {
    const r = xent("loss", "--logits", `${spelling},0,0`, "--target", "1");
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `${Math.LN2.toFixed(6)} nats\n`);
  }
});

test("--probs within 0.001 of a sum of 1 are renormalised", () => {
  const r = xent("loss", "--probs", "0.3335,0.3335,0.3335", "--target", "0");
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, `${Math.log(3).toFixed(6)} nats\n`);
});

const bad: [string, string[], RegExp][] = [
  ["target out of range", ["loss", "--probs", "0.7,0.2,0.1", "--target", "3"], /--target is "3"; expected an integer in \[0, 2\]/],
  ["non-numeric prob", ["loss", "--probs", "0.7,x", "--target", "0"], /--probs: item 1 is "x"; expected a number/],
  ["negative prob", ["loss", "--probs", "0.7,-0.2", "--target", "0"], /--probs: item 1 is -0.2/],
  ["both inputs", ["loss", "--probs", "1", "--logits", "1", "--target", "0"], /give exactly one of --probs and --logits/],
  ["no input", ["loss", "--target", "0"], /give exactly one of --probs and --logits/],
  ["missing target", ["loss", "--probs", "0.5,0.5"], /required option '--target <index>' not specified/],
  ["unknown flag", ["loss", "--probs", "1", "--target", "0", "--nope"], /unknown option '--nope'/],
  ["unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
  ["bad smoothing", ["loss", "--probs", "0.5,0.5", "--target", "0", "--label-smoothing", "2"], /--label-smoothing is "2"; expected a number in \[0, 1\]/],
  // a +inf logit has no softmax without a softcap: refused as PyTorch's NaN would be, whatever its spelling
  ["+Infinity logit", ["loss", "--logits", "1,Infinity,2", "--target", "0"], /^xent: --logits: item 1 is \+inf; without --softcap a \+inf logit makes the loss NaN \(as in PyTorch\)/],
  ["+inf logit", ["loss", "--logits", "1,inf,2", "--target", "0"], /^xent: --logits: item 1 is \+inf; without --softcap/],
  ["+inf target logit", ["loss", "--logits", "inf,1", "--target", "0"], /^xent: --logits: item 0 is \+inf/],
  ["every logit -inf", ["loss", "--logits", "-inf,-inf", "--target", "0"], /^xent: --logits: every logit is -inf; expected at least one above -inf$/],
  ["NaN logit", ["loss", "--logits", "1,NaN", "--target", "0"], /^xent: --logits: item 1 is "NaN"; expected a number \(or inf, -inf\)$/],
  ["probs that do not sum to 1", ["loss", "--probs", "0.5,0.2,0.1", "--target", "0"], /^xent: --probs sum to 0\.8; expected probabilities that sum to 1 \(within 0\.001\); give unnormalised scores as --logits$/],
  ["probs summing to 0", ["loss", "--probs", "0,0", "--target", "0"], /^xent: --probs sum to 0; expected probabilities that sum to 1/],
  ["infinite prob", ["loss", "--probs", "inf,0", "--target", "0"], /^xent: --probs: item 0 is Infinity; expected a probability >= 0/],
  ["unknown option, our style", ["loss", "--probs", "1", "--target", "0", "--nope"], /^xent: unknown option '--nope'$/],
  ["train is the trainer's command", ["train"], /^xent: unknown command 'train'$/],
];
for (const [name, args, pattern] of bad) {
  test(`bad arguments print one line and exit 2: ${name}`, () => {
    const r = xent(...args);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(r.err.trimEnd(), pattern);
    assert.equal(r.err.trim().split("\n").length, 1, `more than one line: ${r.err}`);
  });
}
