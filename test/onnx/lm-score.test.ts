/**
 * Scoring text with a real language model in ONNX: the tiny GPT-2 of fixtures/tiny-gpt2-onnx
 * (made by scripts/make_onnx_model.py with PyTorch and transformers) runs in onnxruntime-node,
 * its tokenizer in @huggingface/tokenizers, and xent computes the losses from the logits. They
 * must equal PyTorch's own per-token losses of the same model on the same tokens, and the ids
 * and offsets those of the Python tokenizer.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { Tokenizer } from "@huggingface/tokenizers";
import { assertClose } from "../helpers/close.js";
import {
  halfToFloat, widenHalf, importPeer, loadModelFolder, loadTokenizer, MissingPackageError, ModelFolderError, wrapTokenizer, type LoadedModel,
} from "../../examples/tiny-gpt/src/lm/model-folder.js";
import { isModelScoreUserError, scoreFileWithModel } from "../../examples/tiny-gpt/src/lm/run-model-score.js";
import { scoreIds, scoreText, windows, type ScoringModel, type TextTokenizer } from "../../examples/tiny-gpt/src/lm/score-text.js";

const DIR = "fixtures/tiny-gpt2-onnx";

interface Case {
  name: string;
  text: string;
  ids: number[];
  byteOffsets: [number, number][];
  losses: (number | null)[];
}
interface Expected {
  vocabSize: number;
  context: number;
  stride: number;
  cases: Case[];
}
const expected = JSON.parse(readFileSync(join(DIR, "expected.json"), "utf8")) as Expected;

let model: LoadedModel;
before(async () => {
  model = await loadModelFolder(DIR, { threads: 1 });
});
after(async () => {
  await model.dispose();
});

describe("the ONNX fixture model against PyTorch", () => {
  it("loads the folder: sizes from config.json, inputs of the graph", () => {
    assert.equal(model.vocabSize, expected.vocabSize);
    assert.equal(model.context, expected.context);
    assert.equal(model.modelType, "gpt2");
    assert.deepEqual([...model.inputNames].sort(), ["attention_mask", "input_ids"]);
  });

  it("the fixture has texts longer than the context, and non-ASCII text", () => {
    assert.ok(expected.cases.some((c) => c.ids.length > expected.context + 1));
    assert.ok(expected.cases.some((c) => Buffer.byteLength(c.text) > c.text.length));
  });

  for (const c of expected.cases) {
    it(`${c.name}: the ids are the Python tokenizer's`, () => {
      assert.deepEqual(Array.from(model.tokenizer.encode(c.text)), c.ids);
    });

    it(`${c.name}: xent's per-token losses on ONNX Runtime's logits equal PyTorch's within 1e-4`, async () => {
      const r = await scoreText(model, c.text, { stride: expected.stride });
      assert.deepEqual(Array.from(r.ids), c.ids);
      assert.ok(Number.isNaN(r.losses[0]!), "token 0 has no history and is not scored");
      assert.equal(c.losses[0], null);
      const want = c.losses.slice(1).map((x) => x!);
      assertClose(r.losses.subarray(1), want, { atol: 1e-4, rtol: 0 }, `${c.name} losses`);
      // the figures follow from the losses and the text
      const sum = want.reduce((a, b) => a + b, 0);
      assertClose(r.meanLoss, sum / want.length, { atol: 1e-5, rtol: 0 }, "meanLoss");
      assertClose(r.perplexity, Math.exp(sum / want.length), { atol: 0, rtol: 1e-4 }, "perplexity");
      // bits per byte over the bytes of the scored tokens: all but the first token's
      const scoredBytes = Buffer.byteLength(c.text) - c.byteOffsets[0]![1];
      assert.equal(r.bytes, scoredBytes);
      assertClose(r.bitsPerByte, sum / Math.LN2 / scoredBytes, { atol: 1e-5, rtol: 0 }, "bitsPerByte");
      assert.equal(r.tokens, c.ids.length - 1);
      assert.ok(r.modelMs > 0 && r.lossMs > 0);
    });

    it(`${c.name}: offsets: the tokens' bytes spell the text, inside the Python tokenizer's character spans`, async () => {
      const r = await scoreText(model, c.text, { stride: expected.stride });
      const bytes = Buffer.from(c.text, "utf8");
      assert.equal(r.offsetsExact, true);
      assert.equal(r.byteOffsets[0], 0);
      assert.equal(r.byteOffsets[r.byteOffsets.length - 1], bytes.length);
      for (let i = 0; i < c.ids.length; i++) {
        const [start, end] = [r.byteOffsets[2 * i]!, r.byteOffsets[2 * i + 1]!];
        const [pyStart, pyEnd] = c.byteOffsets[i]!;
        if (i > 0) assert.equal(start, r.byteOffsets[2 * i - 1], `token ${i} starts where token ${i - 1} ends`);
        assert.ok(pyStart <= start && end <= pyEnd, `token ${i}: bytes [${start}, ${end}) outside Python's [${pyStart}, ${pyEnd})`);
        // the whole characters a token touches are Python's offsets
        const chars = c.text.slice(r.charOffsets[2 * i], r.charOffsets[2 * i + 1]);
        const charStartBytes = Buffer.byteLength(c.text.slice(0, r.charOffsets[2 * i]));
        assert.deepEqual([charStartBytes, charStartBytes + Buffer.byteLength(chars)], [pyStart, pyEnd], `token ${i} (${JSON.stringify(r.pieces[i])}) characters`);
      }
    });
  }

  it("stride 1 and stride = context give the same losses as PyTorch on a text within one window", async () => {
    const c = expected.cases.find((x) => x.ids.length <= expected.context + 1)!;
    for (const stride of [1, expected.context]) {
      const r = await scoreText(model, c.text, { stride });
      assertClose(r.losses.subarray(1), c.losses.slice(1).map((x) => x!), { atol: 1e-4, rtol: 0 }, `stride ${stride}`);
    }
  });

  it("reports progress once per window", async () => {
    const c = expected.cases.find((x) => x.ids.length > expected.context + 1)!;
    const calls: [number, number][] = [];
    await scoreText(model, c.text, { stride: expected.stride, onWindow: (d, t) => calls.push([d, t]) });
    const n = windows(c.ids.length, expected.context, expected.stride).length;
    assert.ok(n > 1);
    assert.deepEqual(calls, Array.from({ length: n }, (_, k) => [k + 1, n]));
  });
});

describe("scoreIds with a logits callback", () => {
  // a bigram model: the logits after token a are table[a]; losses computed here in float64
  const V = 7;
  const table = Array.from({ length: V }, (_, a) => Array.from({ length: V }, (_, b) => Math.sin(a * 3.1 + b * 1.7) * 4 + (a === b ? -1e4 : 0)));
  const logits = async (ids: Int32Array): Promise<Float32Array> => Float32Array.from(Array.from(ids).flatMap((a) => table[a]!));
  const ids = Int32Array.from([0, 3, 6, 2, 5, 1, 4, 0, 2, 6, 3, 1, 5]);

  it("losses are −log softmax of the callback's logits, over strided windows", async () => {
    for (const stride of [1, 2, 3, 4]) {
      const r = await scoreIds({ vocabSize: V, context: 4, logits }, ids, { stride });
      const want = [NaN];
      for (let i = 1; i < ids.length; i++) {
        const row = table[ids[i - 1]!]!.map((x) => Math.fround(x));
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
        want.push(lse - row[ids[i]!]!);
      }
      assertClose(r.losses, want, { atol: 1e-4, rtol: 1e-6 }, `stride ${stride}`);
    }
  });

  it("every window sees at most the context, and every token but the first is scored once", () => {
    for (const [length, context, stride] of [[2, 4, 2], [13, 4, 1], [13, 4, 3], [100, 16, 8], [100, 16, 16], [17, 16, 5]] as const) {
      const ws = windows(length, context, stride);
      const scored = new Array<number>(length).fill(0);
      for (const w of ws) {
        assert.ok(w.end - w.begin - 1 <= context, `${length}/${context}/${stride}: window of ${w.end - w.begin - 1}`);
        assert.ok(w.from > w.begin && w.from < w.end);
        for (let p = w.from; p < w.end; p++) {
          scored[p]!++;
          assert.ok(p - w.begin >= Math.min(p, context - stride), `token ${p} has ${p - w.begin} tokens of history`);
        }
      }
      assert.deepEqual(scored, [0, ...new Array<number>(length - 1).fill(1)]);
    }
  });

  it("bad input: clear errors naming the function, argument and what was expected", async () => {
    const m = { vocabSize: V, context: 4, logits };
    await assert.rejects(scoreIds(m, Int32Array.from([0, 7])), /scoreIds: ids\[1\] is 7; expected a token id in \[0, 7\)/);
    await assert.rejects(scoreIds(m, ids, { stride: 5 }), /scoreIds: options.stride is 5; expected an integer in \[1, 4\]/);
    await assert.rejects(scoreIds({ ...m, context: 0 }, ids), /scoreIds: model.context is 0; expected a positive integer/);
    const short = async (x: Int32Array) => new Float32Array(x.length * V - 1);
    await assert.rejects(scoreIds({ ...m, logits: short }, ids), /scoreIds: model.logits returned 27 floats for 4 tokens \(window 0\); expected a Float32Array of 4 × 7/);
    // logits left on the GPU need the engine that computes their losses there; they are disposed either way
    let disposed = 0;
    const onGpu = async (x: Int32Array) => ({ gpuBuffer: { size: x.length * V * 4, usage: 0x80, mapAsync: () => undefined, destroy: () => undefined }, dispose: () => void disposed++ });
    await assert.rejects(scoreIds({ ...m, logits: onGpu }, ids), /scoreIds: model.logits returned logits on the GPU for 4 tokens \(window 0\); expected model.engine, a webgpu engine on the model's device/);
    const small = async (_ids: Int32Array) => ({ gpuBuffer: { size: 8, usage: 0x80, mapAsync: () => undefined, destroy: () => undefined }, dispose: () => void disposed++ });
    await assert.rejects(scoreIds({ ...m, logits: small }, ids), /scoreIds: model.logits returned a GPU buffer of 8 bytes for 4 tokens \(window 0\); expected at least 4 × 7 float32/);
    assert.equal(disposed, 2);
    const tok: TextTokenizer = { encode: () => Int32Array.from([1]), tokenBytes: () => new Uint8Array(0) };
    const sm: ScoringModel = { ...m, tokenizer: tok };
    await assert.rejects(scoreText(sm, "x"), /scoreText: the text has 1 token; expected at least 2/);
  });
});

describe("model folders", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "xent-lm-score-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a folder without its files is a one-line ModelFolderError", async () => {
    await assert.rejects(loadModelFolder(join(dir, "nothing")), (e: Error) => e instanceof ModelFolderError && /does not exist/.test(e.message));
    const partial = join(dir, "partial");
    cpSync(DIR, partial, { recursive: true });
    rmSync(join(partial, "onnx"), { recursive: true });
    await assert.rejects(loadModelFolder(partial), (e: Error) => e instanceof ModelFolderError && /has no onnx\/model.onnx; export one with optimum-cli export onnx/.test(e.message));
    rmSync(join(partial, "config.json"));
    await assert.rejects(loadModelFolder(partial), (e: Error) => e instanceof ModelFolderError && /has no config.json/.test(e.message));
    writeFileSync(join(partial, "config.json"), "[1]");
    await assert.rejects(loadModelFolder(partial), (e: Error) => e instanceof ModelFolderError && /config.json is not a JSON object/.test(e.message));
  });

  it("a missing optional peer dependency is one line that says how to install it", async () => {
    const missing = () => import("onnxruntime-node-is-not-installed" as string);
    await assert.rejects(importPeer("onnxruntime-node", missing), (e: Error) =>
      e instanceof MissingPackageError && !e.message.includes("\n") && /npm install onnxruntime-node .*ONNXRUNTIME_NODE_INSTALL=skip/.test(e.message));
  });

  it("loadTokenizer reads the folder's tokenizer alone", async () => {
    const tok = await loadTokenizer(DIR);
    assert.deepEqual(Array.from(tok.encode(expected.cases[0]!.text)), expected.cases[0]!.ids);
  });

  it("a SentencePiece-style tokenizer (Metaspace, byte fallback, BOS): offsets still spell the text", async () => {
    // a hand-made Llama-style tokenizer.json: ▁ for spaces, <0xNN> for bytes not in the vocabulary
    const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
    for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + b;
    for (const p of ["▁", "a", "b", "c", "h", "l", "o", "e", "w", "r", "d", "▁h", "ll", "▁w", "▁hello"]) vocab[p] = Object.keys(vocab).length;
    const json = {
      version: "1.0", truncation: null, padding: null,
      added_tokens: [0, 1, 2].map((id) => ({ id, content: ["<unk>", "<s>", "</s>"][id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "▁" }, { type: "Replace", pattern: { String: " " }, content: "▁" }] },
      pre_tokenizer: null,
      post_processor: { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }], pair: [], special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } } },
      decoder: { type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "▁" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 }] },
      model: { type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: [["▁", "h"], ["l", "l"], ["▁", "w"]] },
    };
    const tok = wrapTokenizer(new Tokenizer(json, {}), json);
    const text = "hello wörld ✓ab";
    const ids = tok.encode(text);
    assert.equal(ids[0], 1, "the tokenizer adds a BOS");
    assert.ok(Array.from(ids).some((id) => id >= 3 && id < 259), "some bytes fall back to <0xNN> tokens");
    const m: ScoringModel = { tokenizer: tok, vocabSize: Object.keys(vocab).length, context: 8, logits: async (x) => new Float32Array(x.length * Object.keys(vocab).length) };
    const r = await scoreText(m, text);
    assert.equal(r.offsetsExact, true);
    assert.deepEqual([r.byteOffsets[0], r.byteOffsets[1]], [0, 0], "the BOS covers no bytes");
    assert.equal(Buffer.concat(Array.from(ids, (_, i) => Buffer.from(text, "utf8").subarray(r.byteOffsets[2 * i], r.byteOffsets[2 * i + 1]))).toString("utf8"), text);
    // uniform logits: every scored token costs log V
    assertClose(r.losses.subarray(1), new Array<number>(ids.length - 1).fill(Math.log(m.vocabSize)), { atol: 1e-5, rtol: 0 }, "uniform losses");
  });

  it("float16 logits are widened exactly", () => {
    const cases: [number, number][] = [[0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x8000, -0], [0x7c00, Infinity], [0xfc00, -Infinity], [0x3555, 0.333251953125]];
    for (const [h, want] of cases) assert.equal(halfToFloat(h), want, `0x${h.toString(16)}`);
    assert.ok(Number.isNaN(halfToFloat(0x7e00)));
    // as onnxruntime-node hands them over: bits in a Uint16Array, or a Float16Array where the runtime has one (Node 24+)
    const bits = Uint16Array.from(cases, ([h]) => h);
    assert.deepEqual([...widenHalf(bits)], cases.map(([, want]) => Math.fround(want)));
    assert.deepEqual([...widenHalf(bits.subarray(2))], cases.slice(2).map(([, want]) => Math.fround(want)));
    const half: unknown = Reflect.get(globalThis, "Float16Array");
    if (typeof half === "function") {
      const f16: unknown = Reflect.construct(half, [cases.map(([, want]) => want)]);
      assert.deepEqual([...widenHalf(f16)], cases.map(([, want]) => Math.fround(want)), "a Float16Array");
    }
    assert.throws(() => widenHalf([1, 2]), /float16 logits came as \[object Array\]; expected a Float16Array or a Uint16Array/);
  });
});

describe("score --model: the file runner", () => {
  let out: string;
  before(() => {
    out = mkdtempSync(join(tmpdir(), "xent-lm-score-out-"));
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it("scores a file like scoreText, lists the top tokens and writes the surprisal page", async () => {
    const c = expected.cases.find((x) => x.name === "unicode")!;
    const file = join(out, "text.txt");
    writeFileSync(file, c.text);
    const r = await scoreFileWithModel({ model: DIR, file, out, stride: expected.stride, top: 3, progress: false, json: false });
    assertClose(r.score.losses.subarray(1), c.losses.slice(1).map((x) => x!), { atol: 1e-4, rtol: 0 }, "losses");
    assert.equal(r.summary.tokens, c.ids.length - 1);
    assert.equal(r.summary.bytes, Buffer.byteLength(c.text) - c.byteOffsets[0]![1]);
    assert.equal(r.summary.inputBytes, Buffer.byteLength(c.text));
    const worst = Math.max(...c.losses.slice(1).map((x) => x!));
    assertClose(r.top[0]!.loss, worst, { atol: 1e-4, rtol: 0 }, "the most surprising token");
    assert.equal(r.top.length, 3);
    const html = readFileSync(r.htmlPath, "utf8");
    assert.match(html, /gpt2 model tiny-gpt2-onnx \(V = 1031\)/);
    assert.equal(html.match(/<span class="t[ "]/g)?.length, c.ids.length, "one span per token");
    assert.ok(!html.includes("checkpoint of step"));
  });

  it("a bad stride or folder is a user error", async () => {
    const file = join(out, "text.txt");
    await assert.rejects(scoreFileWithModel({ model: DIR, file, out, stride: 65, top: 3, progress: false, json: false }), (e: Error) => isModelScoreUserError(e) && /--stride is 65; expected an integer in \[1, 64\]/.test(e.message));
    await assert.rejects(scoreFileWithModel({ model: join(out, "none"), file, out, top: 3, progress: false, json: false }), (e: Error) => isModelScoreUserError(e));
  });
});

describe("a graph with every decoder input and float16 logits (onnx/inputs_fp16.onnx)", () => {
  it("gets input_ids, an all-ones mask, positions 0..n-1, an empty float16 past and use_cache_branch; its losses follow", async () => {
    const m = await loadModelFolder(DIR, { onnxFile: "onnx/inputs_fp16.onnx", threads: 1 });
    try {
      assert.deepEqual([...m.inputNames].sort(), ["attention_mask", "input_ids", "past_key_values.0.key", "past_key_values.0.value", "position_ids", "use_cache_branch"]);
      const c = expected.cases.find((x) => x.ids.length > expected.context + 1)!;
      const r = await scoreText(m, c.text, { stride: expected.stride });
      // logits after token a: 3 at class a, 0 elsewhere (the other inputs add 0 when fed as expected)
      const V = expected.vocabSize;
      const want = c.ids.slice(1).map((b, i) => Math.log(Math.exp(3) + V - 1) - (b === c.ids[i] ? 3 : 0));
      assertClose(r.losses.subarray(1), want, { atol: 1e-5, rtol: 0 }, "closed-form losses");
    } finally {
      await m.dispose();
    }
  });
});

describe("tiny-gpt score --model, as a process", () => {
  const cli = (args: string[], input?: string) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "examples/tiny-gpt/src/main.ts", "score", ...args], { encoding: "utf8", timeout: 120_000, ...(input !== undefined ? { input } : {}) });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  let out: string;
  before(() => {
    out = mkdtempSync(join(tmpdir(), "xent-lm-score-cli-"));
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it("--json from standard input: PyTorch's mean loss, the page written", () => {
    const c = expected.cases.find((x) => x.name === "sample-text")!;
    const r = cli(["--model", DIR, "--stride", String(expected.stride), "--out", out, "--json", "--threads", "1", "-"], c.text);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { tokens: number; meanLoss: number; model: string; top: unknown[] };
    const want = c.losses.slice(1).map((x) => x!);
    assert.equal(j.tokens, want.length);
    assertClose(j.meanLoss, want.reduce((a, b) => a + b, 0) / want.length, { atol: 1e-5, rtol: 0 }, "meanLoss");
    assert.equal(j.top.length, 10);
    assert.match(readFileSync(join(out, "surprisal.html"), "utf8"), /gpt2 model tiny-gpt2-onnx/);
  });

  it("bad flags and folders: one line, exit 2", () => {
    for (const [args, re] of [
      [["x.txt"], /expected one of --checkpoint <dir> and --model <dir>/],
      [["--model", DIR, "--checkpoint", DIR, "x.txt"], /expected one of --checkpoint <dir> and --model <dir>/],
      [["--model", join(out, "none"), "-"], /model folder .* does not exist/],
      [["--model", DIR, "--size", "tiny", "-"], /--size is for --checkpoint/],
    ] as const) {
      const r = cli([...args], "some text to score");
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
});
