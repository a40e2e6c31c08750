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
];
for (const [name, args, pattern] of bad) {
  test(`bad arguments print one line and exit 2: ${name}`, () => {
    const r = xent(...args);
    assert.equal(r.code, 2);
    assert.equal(r.out, "");
    assert.match(r.err, pattern);
    assert.equal(r.err.trim().split("\n").length, 1, `more than one line: ${r.err}`);
  });
}
