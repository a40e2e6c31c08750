/**
 * The corpus and its batches: the English sentences bundled with `nlp-corpus` (MIT) by default,
 * or any UTF-8 text file; a held-out tail for validation; seeded batch sampling.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * A small, fast, seedable PRNG (mulberry32): the same seed gives the same batches everywhere.
 * Its whole state is one 32-bit integer, saved in checkpoints so a resumed run draws the batches
 * an uninterrupted run would have drawn.
 */
export class Rng {
  private a: number;
  constructor(state: number) {
    this.a = state >>> 0;
  }
  get state(): number {
    return this.a;
  }
  /** The next number in [0, 1). */
  readonly next = (): number => {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A generator seeded with `seed`. */
export function rng(seed: number): Rng {
  return new Rng(seed);
}

/** A bad corpus (missing, empty): the CLI prints one line and exits 2. */
export class CorpusError extends Error {
  override name = "CorpusError";
}

/** How many of nlp-corpus's 100 sentence files the default corpus reads (about 85 kB each). */
export const DEFAULT_CORPUS_DOCS = 24;

/** The default corpus: sentences of nlp-corpus, one per line, in its fixed order. */
export function loadDefaultCorpus(docs = DEFAULT_CORPUS_DOCS): string {
  const require = createRequire(import.meta.url);
  // the package exports only its entry, src/server/index.js; the sentences are in builds/
  const root = join(dirname(require.resolve("nlp-corpus")), "..", "..");
  const lines: string[] = [];
  for (let i = 0; i < docs; i++) {
    const sentences = JSON.parse(readFileSync(join(root, "builds", `doc-${i}.json`), "utf8")) as string[];
    for (const s of sentences) lines.push(s.replace(/\s+/g, " ").trim());
  }
  return lines.join("\n") + "\n";
}

/** Read a text file for training, with one-line errors for the common mistakes. */
export function readText(file: string, what = "corpus"): string {
  const text = readFileSync(checkFile(file, what), "utf8");
  if (text.trim().length === 0) throw new CorpusError(`${what} file ${JSON.stringify(file)} is empty; expected some text`);
  return text;
}

function checkFile(file: string, what: string): string {
  if (!existsSync(file)) throw new CorpusError(`${what} file ${JSON.stringify(file)} does not exist`);
  if (!statSync(file).isFile()) throw new CorpusError(`${what} file ${JSON.stringify(file)} is not a regular file`);
  return file;
}

/** A text as read from its bytes: the code points, and how many input bytes each one came from. */
export interface DecodedText {
  /** Where it came from: the file name, or "standard input". */
  name: string;
  /** The input's length in bytes. */
  bytes: number;
  /** The code points in order; each malformed UTF-8 sequence is one U+FFFD. */
  chars: string[];
  /** sizes[i]: the input bytes chars[i] came from (1 to 4). */
  sizes: Uint8Array;
  /** Input bytes that were not part of well-formed UTF-8. */
  invalidBytes: number;
  /** Indices in `chars` of the U+FFFD that stand for ill-formed bytes. */
  invalidAt: Set<number>;
  /** chars.join(""). */
  text: string;
}

/**
 * Decode UTF-8 as the WHATWG decoder (TextDecoder) does, replacing each maximal ill-formed
 * subsequence by U+FFFD, but keep, for each code point, how many input bytes it came from, so
 * that figures per byte count the input's own bytes.
 */
export function decodeUtf8(bytes: Uint8Array, name = "text"): DecodedText {
  const chars: string[] = [];
  const sizes: number[] = [];
  let invalidBytes = 0;
  const invalidAt = new Set<number>();
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    if (b0 < 0x80) {
      chars.push(String.fromCharCode(b0));
      sizes.push(1);
      i++;
      continue;
    }
    let need = 0;
    let cp = 0;
    let lo = 0x80;
    let hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) [need, cp] = [1, b0 & 0x1f];
    else if (b0 >= 0xe0 && b0 <= 0xef) [need, cp, lo, hi] = [2, b0 & 0x0f, b0 === 0xe0 ? 0xa0 : 0x80, b0 === 0xed ? 0x9f : 0xbf];
    else if (b0 >= 0xf0 && b0 <= 0xf4) [need, cp, lo, hi] = [3, b0 & 0x07, b0 === 0xf0 ? 0x90 : 0x80, b0 === 0xf4 ? 0x8f : 0xbf];
    let j = 1;
    for (; j <= need; j++) {
      const b = bytes[i + j];
      if (b === undefined || b < lo || b > hi) break;
      [lo, hi] = [0x80, 0xbf];
      cp = (cp << 6) | (b & 0x3f);
    }
    if (need === 0 || j <= need) {
      // an ill-formed sequence: the bytes read so far become one U+FFFD; the next byte starts afresh
      invalidAt.add(chars.length);
      chars.push("\u{FFFD}");
      sizes.push(j);
      invalidBytes += j;
      i += j;
      continue;
    }
    chars.push(String.fromCodePoint(cp));
    sizes.push(need + 1);
    i += need + 1;
  }
  return { name, bytes: bytes.length, chars, sizes: Uint8Array.from(sizes), invalidBytes, invalidAt, text: chars.join("") };
}

/** Read the text to score from a file, or from standard input when `file` is "-". */
export function readInput(file: string): DecodedText {
  const stdin = file === "-";
  const name = stdin ? "standard input" : file;
  const decoded = decodeUtf8(readFileSync(stdin ? 0 : checkFile(file, "text")), name);
  if (decoded.text.trim().length === 0) throw new CorpusError(`${stdin ? "standard input" : `text file ${JSON.stringify(file)}`} is empty; expected some text`);
  return decoded;
}

export interface Splits {
  train: Int32Array;
  val: Int32Array;
}

/** Tokenize and split: the last `valFraction` of the tokens is held out for validation. */
export function split(tokens: Int32Array, context: number, valFraction = 0.1): Splits {
  const nVal = Math.max(context + 1, Math.floor(tokens.length * valFraction));
  if (tokens.length - nVal < context + 1) {
    throw new CorpusError(`the corpus has ${tokens.length} tokens; expected at least ${2 * (context + 1)} for a training and a validation window of ${context}`);
  }
  return { train: tokens.subarray(0, tokens.length - nVal), val: tokens.subarray(tokens.length - nVal) };
}

/** A batch of B windows: inputs (B, T) and next-token targets (B·T), both int32. */
export interface Batch {
  x: Int32Array;
  y: Int32Array;
  batch: number;
  context: number;
}

/** Windows starting at the given offsets. */
export function batchAt(tokens: Int32Array, starts: readonly number[], context: number): Batch {
  const b = starts.length;
  const x = new Int32Array(b * context);
  const y = new Int32Array(b * context);
  starts.forEach((s, i) => {
    x.set(tokens.subarray(s, s + context), i * context);
    y.set(tokens.subarray(s + 1, s + 1 + context), i * context);
  });
  return { x, y, batch: b, context };
}

/** A random batch drawn with `random` (seeded). */
export function randomBatch(tokens: Int32Array, batch: number, context: number, random: () => number): Batch {
  const hi = tokens.length - context - 1;
  const starts = Array.from({ length: batch }, () => Math.floor(random() * (hi + 1)));
  return batchAt(tokens, starts, context);
}

/** `count` fixed batches spread evenly over the tokens: the same evaluation set at every step. */
export function evalBatches(tokens: Int32Array, count: number, batch: number, context: number): Batch[] {
  const hi = tokens.length - context - 1;
  const total = count * batch;
  const starts = Array.from({ length: total }, (_, k) => Math.floor((k * hi) / Math.max(1, total - 1)));
  return Array.from({ length: count }, (_, i) => batchAt(tokens, starts.slice(i * batch, (i + 1) * batch), context));
}
