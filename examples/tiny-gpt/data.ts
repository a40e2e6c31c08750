/**
 * The corpus and its batches: the English sentences bundled with `nlp-corpus` (MIT) by default,
 * or any UTF-8 text file; a held-out tail for validation; seeded batch sampling.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same batches everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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

/** Read a text file for training or scoring, with one-line errors for the common mistakes. */
export function readText(file: string, what = "corpus"): string {
  if (!existsSync(file)) throw new CorpusError(`${what} file ${JSON.stringify(file)} does not exist`);
  if (!statSync(file).isFile()) throw new CorpusError(`${what} file ${JSON.stringify(file)} is not a regular file`);
  const text = readFileSync(file, "utf8");
  if (text.trim().length === 0) throw new CorpusError(`${what} file ${JSON.stringify(file)} is empty; expected some text`);
  return text;
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
