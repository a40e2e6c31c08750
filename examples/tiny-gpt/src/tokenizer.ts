/**
 * Tokenizers for the tiny GPT: characters by default (vocabulary fitted on the training text),
 * or GPT-2's byte-pair encoding from the `gpt-tokenizer` package (50 257 tokens).
 * Both serialise to JSON so a checkpoint can rebuild the exact tokenizer it was trained with.
 */
import { createRequire } from "node:module";

type Gpt2Module = typeof import("gpt-tokenizer/encoding/gpt2");
let gpt2: Gpt2Module | undefined;
/** GPT-2's encoding, loaded on first use: its merge table takes a while to read, and char runs never need it. */
function gpt2Encoding(): Gpt2Module {
  gpt2 ??= createRequire(import.meta.url)("gpt-tokenizer/cjs/encoding/gpt2") as Gpt2Module;
  return gpt2;
}

export type TokenizerKind = "char" | "gpt2";

export interface Tokenizer {
  readonly kind: TokenizerKind;
  readonly vocabSize: number;
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
  /** The text of each token on its own (for per-token displays). */
  pieces(ids: ArrayLike<number>): string[];
  toJSON(): TokenizerJSON;
}

export type TokenizerJSON = { kind: "char"; chars: string[] } | { kind: "gpt2" };

/** Id 0 of the character tokenizer: any character outside its vocabulary. */
export const UNK = "\u{FFFD}";

export class CharTokenizer implements Tokenizer {
  readonly kind = "char" as const;
  readonly vocabSize: number;
  private readonly index = new Map<string, number>();

  /** `chars[0]` must be UNK; the others are distinct single code points. */
  constructor(readonly chars: readonly string[]) {
    this.vocabSize = chars.length;
    chars.forEach((c, i) => this.index.set(c, i));
  }

  /** Fit on a text: every code point seen at least `minCount` times gets an id, sorted; the rest map to UNK. */
  static fit(text: string, minCount = 1): CharTokenizer {
    const counts = new Map<string, number>();
    for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    const kept = [...counts].filter(([c, k]) => k >= minCount && c !== UNK).map(([c]) => c);
    kept.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return new CharTokenizer([UNK, ...kept]);
  }

  encode(text: string): Int32Array {
    const out: number[] = [];
    for (const c of text) out.push(this.index.get(c) ?? 0);
    return Int32Array.from(out);
  }

  decode(ids: ArrayLike<number>): string {
    return this.pieces(ids).join("");
  }

  pieces(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (i) => this.chars[i] ?? UNK);
  }

  toJSON(): TokenizerJSON {
    return { kind: "char", chars: [...this.chars] };
  }
}

export class Gpt2Tokenizer implements Tokenizer {
  readonly kind = "gpt2" as const;
  readonly vocabSize = gpt2Encoding().vocabularySize;

  encode(text: string): Int32Array {
    // special-token text such as "<|endoftext|>" is encoded as plain text, never refused
    return Int32Array.from(gpt2Encoding().encode(text, { allowedSpecial: new Set(), disallowedSpecial: new Set() }));
  }

  decode(ids: ArrayLike<number>): string {
    return gpt2Encoding().decode(Array.from(ids));
  }

  pieces(ids: ArrayLike<number>): string[] {
    const { decode } = gpt2Encoding();
    return Array.from(ids, (i) => decode([i]));
  }

  toJSON(): TokenizerJSON {
    return { kind: "gpt2" };
  }
}

export function tokenizerFromJSON(json: TokenizerJSON): Tokenizer {
  if (json.kind === "gpt2") return new Gpt2Tokenizer();
  if (json.kind === "char" && Array.isArray(json.chars) && json.chars[0] === UNK) return new CharTokenizer(json.chars);
  throw new TypeError(`tokenizer.json: unknown tokenizer ${JSON.stringify((json as { kind?: unknown }).kind)}; expected "char" or "gpt2"`);
}
