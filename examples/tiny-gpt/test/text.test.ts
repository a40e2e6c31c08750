/**
 * Reading the text to score (UTF-8 with the input's own byte counts), what the first token
 * covers, the warning for input that is not text, and the CLI's wording (durations, plurals).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeUtf8 } from "../src/data.js";
import { formatDuration, plural } from "../src/flags.js";
import { inputWarning, tokenPieces } from "../src/score.js";
import { CharTokenizer, Gpt2Tokenizer } from "../src/tokenizer.js";

describe("decodeUtf8", () => {
  it("decodes as TextDecoder does, and its byte counts add up to the input's length", () => {
    const td = new TextDecoder();
    // bytes biased towards UTF-8 lead and continuation bytes, so ill-formed sequences of every kind occur
    const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0x80, max: 0xbf }), fc.constantFrom(0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xc0));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 40 }), (arr) => {
        const bytes = Uint8Array.from(arr);
        const d = decodeUtf8(bytes);
        assert.equal(d.text, td.decode(bytes));
        assert.equal(d.sizes.reduce((a, b) => a + b, 0), bytes.length);
        assert.equal(d.chars.length, d.sizes.length);
        let invalid = 0;
        for (const i of d.invalidAt) invalid += d.sizes[i]!;
        assert.equal(invalid, d.invalidBytes);
      }),
      { seed: 7, numRuns: 3000 },
    );
  });

  it("keeps each character with its bytes: 'the niño ate' is 13 bytes in 12 characters", () => {
    const d = decodeUtf8(new TextEncoder().encode("the niño ate"));
    assert.equal(d.bytes, 13);
    assert.equal(d.chars.length, 12);
    assert.equal(d.sizes[6], 2);
    assert.equal(d.invalidBytes, 0);
    const e = decodeUtf8(Uint8Array.from([0x61, 0xff, 0xe2, 0x82, 0x62, 0xf0, 0x9f, 0x98, 0x80]));
    assert.deepEqual(e.chars, ["a", "\u{FFFD}", "\u{FFFD}", "b", "😀"]);
    assert.deepEqual(Array.from(e.sizes), [1, 1, 2, 1, 4]);
    assert.equal(e.invalidBytes, 3);
  });
});

describe("score's pieces and bytes", () => {
  it("characters: the input's own characters and the first one's bytes, unknown ones included", () => {
    const tok = CharTokenizer.fit("the at");
    const input = decodeUtf8(new TextEncoder().encode("ñthe"));
    const { pieces, firstBytes } = tokenPieces(tok, tok.encode(input.text), input);
    assert.deepEqual(pieces, ["ñ", "t", "h", "e"]);
    assert.equal(firstBytes, 2);
  });

  it("GPT-2 tokens: the first token's bytes are those of the characters it spells", () => {
    const tok = new Gpt2Tokenizer();
    const input = decodeUtf8(new TextEncoder().encode("niño ate"));
    const ids = tok.encode(input.text);
    const { pieces, firstBytes } = tokenPieces(tok, ids, input);
    assert.equal(pieces.join(""), "niño ate");
    assert.equal(firstBytes, new TextEncoder().encode(pieces[0]!).length);
  });

  it("one warning line when much of the input is not UTF-8 or outside the vocabulary, none otherwise", () => {
    const text = decodeUtf8(new TextEncoder().encode("plain text, nothing odd here at all"), "a.txt");
    assert.equal(inputWarning(text, 0), undefined);
    assert.equal(inputWarning(text, 1), undefined, "1 of 35 characters is under 5%");
    assert.equal(inputWarning(text, 7), "a.txt: 20% of its characters are outside the checkpoint's vocabulary; they are scored as the unknown token, so the figures say little about the text");
    const binary = decodeUtf8(Uint8Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 0xff : 0x41)), "b.bin");
    assert.match(inputWarning(binary, 0)!, /^b\.bin: 50% of its bytes are not UTF-8 text; they are scored/);
  });
});

describe("wording", () => {
  it("durations round once: 59.6 s is 1m00s, never 0m60s or 1m60s", () => {
    assert.equal(formatDuration(0), "0s");
    assert.equal(formatDuration(59.4), "59s");
    assert.equal(formatDuration(59.6), "1m00s");
    assert.equal(formatDuration(119.7), "2m00s");
    assert.equal(formatDuration(125), "2m05s");
    assert.equal(formatDuration(3599.6), "1h00m");
    assert.equal(formatDuration(3725), "1h02m");
    assert.equal(formatDuration(NaN), "-");
    for (let s = 0; s < 7300; s += 0.37) assert.doesNotMatch(formatDuration(s), /[^\d]60[sm]/, `${s}`);
  });

  it("plurals: 1 layer, 2 layers, 1 token, 1,024 tokens", () => {
    assert.equal(plural(1, "layer"), "1 layer");
    assert.equal(plural(2, "layer"), "2 layers");
    assert.equal(plural(1, "token"), "1 token");
    assert.equal(plural(1024, "token"), "1,024 tokens");
    assert.equal(plural(0, "step"), "0 steps");
  });
});
