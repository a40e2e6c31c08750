/**
 * Checkpoint files: replacing a checkpoint survives the process being killed at any step of the
 * save (the next read finds a whole checkpoint, the old or the new one, and the next save
 * tidies up), and a damaged or edited config.json is refused with one clear line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { CheckpointError, readCheckpointFile, SAVE_STEPS, writeCheckpointFiles } from "../src/checkpoint-file.js";
import { tinyCheckpoint } from "./helpers/save-checkpoint.js";

const helper = fileURLToPath(new URL("./helpers/save-checkpoint.ts", import.meta.url));
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "tiny-gpt-ck-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function save(ck: string, step: number, crashAt?: string): number | null {
  const r = spawnSync(process.execPath, ["--import", "tsx", helper, ck, String(step), ...(crashAt !== undefined ? [crashAt] : [])], { encoding: "utf8" });
  if (crashAt === undefined) assert.equal(r.status, 0, r.stderr);
  return r.status;
}

/** The step a whole checkpoint holds, checking every weight carries it. */
function stepOf(ck: string): number {
  const f = readCheckpointFile(ck);
  assert.ok(f.weights.every((w) => w === f.meta.step), "weights from another save than config.json");
  assert.equal(JSON.parse(readFileSync(join(f.path, "state.json"), "utf8")).step, f.meta.step, "state.json from another save");
  return f.meta.step;
}

describe("checkpoint: crash-safe replacement", () => {
  for (const [k, at] of SAVE_STEPS.entries()) {
    it(`killed after "${at}": the old or the new checkpoint is read whole, and the next save tidies up`, () => {
      const ck = join(dir, `k${k}`, "checkpoint");
      save(ck, 1);
      assert.equal(stepOf(ck), 1);
      assert.notEqual(save(ck, 2, at), 0, "the child should have been killed");
      // before the old checkpoint is moved aside it is still the one; after, the new one is whole
      const want = k === 0 ? 1 : 2;
      assert.equal(stepOf(ck), want, `after a kill at ${at}`);
      save(ck, 3);
      assert.equal(stepOf(ck), 3);
      assert.deepEqual(readdirSync(join(dir, `k${k}`)), ["checkpoint"], "no .tmp or .old left behind");
    });
  }

  it("killed during the very first save, once checkpoint.tmp is whole: that is the checkpoint, and the next save works", () => {
    const ck = join(dir, "first", "checkpoint");
    save(ck, 1, "tmp-written");
    // no old checkpoint existed: the complete checkpoint.tmp is the one
    assert.equal(stepOf(ck), 1);
    save(ck, 2);
    assert.equal(stepOf(ck), 2);
    assert.deepEqual(readdirSync(join(dir, "first")), ["checkpoint"]);
  });

  it("a half-written checkpoint.tmp (no config.json yet) is passed over for checkpoint.old", () => {
    const base = join(dir, "half");
    const ck = join(base, "checkpoint");
    save(ck, 1);
    cpSync(ck, `${ck}.old`, { recursive: true });
    rmSync(ck, { recursive: true });
    save(`${ck}.tmp`, 2);
    writeFileSync(join(`${ck}.tmp`, "config.json"), '{"format": "xent-tiny'); // cut short
    assert.equal(stepOf(ck), 1);
    assert.equal(readCheckpointFile(ck).path, `${ck}.old`);
  });
});

describe("checkpoint: config.json checks", () => {
  const cases: [string, (cfg: Record<string, unknown> & { model: Record<string, unknown> }) => unknown, RegExp][] = [
    ["null", () => null, /config\.json: the file is null; expected an object written by tiny-gpt train$/],
    ["an array", () => [], /the file is an array; expected an object/],
    ["no params", (c) => ({ ...c, params: undefined }), /params is missing; expected the list of parameters \(name and shape of each\)$/],
    ["no model", (c) => ({ ...c, model: null }), /model is null; expected an object with size, vocabSize/],
    ["size huge", (c) => ({ ...c, model: { ...c.model, size: "huge" } }), /model\.size is string "huge"; expected one of tiny, small, medium$/],
    ["an edited context", (c) => ({ ...c, model: { ...c.model, context: 32 } }), /says size "tiny" but has context 32; the "tiny" preset has context 16$/],
    ["an edited heads", (c) => ({ ...c, model: { ...c.model, heads: 4 } }), /says size "tiny" but has heads 4; the "tiny" preset has heads 2$/],
    ["edited context and width", (c) => ({ ...c, model: { ...c.model, context: 8, width: 64 } }), /has context 8, width 64; the "tiny" preset has context 16, width 32$/],
    ["a fractional width", (c) => ({ ...c, model: { ...c.model, width: 31.5 } }), /model\.width is number 31\.5; expected a positive integer$/],
    ["no step", (c) => ({ ...c, meta: {} }), /meta is an object; expected an object with the step/],
    ["a parameter renamed", (c) => ({ ...c, params: (c.params as { name: string }[]).map((p, i) => (i === 1 ? { ...p, name: "x" } : p)) }), /parameter 1 is x \[16, 32\]; expected wpe \[16, 32\]/],
    ["an unknown tokenizer", (c) => ({ ...c, tokenizer: { kind: "bpe" } }), /unknown tokenizer "bpe"; expected "char" or "gpt2"/],
  ];
  for (const [name, edit, pattern] of cases) {
    it(`${name} is refused in one line`, () => {
      const ck = join(dir, "cfg", name.replace(/\W+/g, "-"));
      const { file, weights } = tinyCheckpoint(5);
      writeCheckpointFiles(ck, file, weights);
      writeFileSync(join(ck, "config.json"), JSON.stringify(edit(JSON.parse(readFileSync(join(ck, "config.json"), "utf8")))));
      assert.throws(
        () => readCheckpointFile(ck),
        (e: unknown) => e instanceof CheckpointError && !e.message.includes("\n") && pattern.test(e.message),
      );
    });
  }

  it("an untouched checkpoint reads back exactly", () => {
    const ck = join(dir, "cfg", "ok");
    const { file, weights } = tinyCheckpoint(7);
    writeCheckpointFiles(ck, file, weights);
    const got = readCheckpointFile(ck);
    assert.deepEqual(got.config, file.model);
    assert.deepEqual(got.weights, weights);
    assert.equal(existsSync(`${ck}.tmp`) || existsSync(`${ck}.old`), false);
  });
});
