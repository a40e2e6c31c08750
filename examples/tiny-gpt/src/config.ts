/**
 * The tiny GPT's shape: its config, the size presets and the parameter list. Free of tfjs, so
 * flags and checkpoints can be checked before tfjs loads.
 */

export interface ModelConfig {
  /** Preset name, recorded in checkpoints so a mismatch can be named. */
  size: string;
  vocabSize: number;
  context: number;
  layers: number;
  width: number;
  heads: number;
  /** Tie the LM head to the token embedding (GPT-2) or give it its own matrix. */
  tied: boolean;
}

export interface SizePreset {
  context: number;
  layers: number;
  width: number;
  heads: number;
  batch: number;
  learningRate: number;
}

/** Presets for `--size`: "small" is what `npm start` trains in about two minutes on 2 cores. */
export const SIZES: Readonly<Record<string, SizePreset>> = {
  tiny: { context: 16, layers: 1, width: 32, heads: 2, batch: 8, learningRate: 1e-2 },
  small: { context: 64, layers: 2, width: 64, heads: 4, batch: 8, learningRate: 6e-3 },
  medium: { context: 128, layers: 4, width: 128, heads: 4, batch: 16, learningRate: 1e-3 },
};

/** Names and shapes of every parameter for a config, in checkpoint order. */
export function paramShapes(c: ModelConfig): [string, number[]][] {
  const d = c.width;
  const out: [string, number[]][] = [
    ["wte", [c.vocabSize, d]],
    ["wpe", [c.context, d]],
  ];
  for (let l = 0; l < c.layers; l++) {
    out.push(
      [`h${l}.ln1.g`, [d]],
      [`h${l}.ln1.b`, [d]],
      [`h${l}.attn.wqkv`, [d, 3 * d]],
      [`h${l}.attn.bqkv`, [3 * d]],
      [`h${l}.attn.wo`, [d, d]],
      [`h${l}.attn.bo`, [d]],
      [`h${l}.ln2.g`, [d]],
      [`h${l}.ln2.b`, [d]],
      [`h${l}.mlp.w1`, [d, 4 * d]],
      [`h${l}.mlp.b1`, [4 * d]],
      [`h${l}.mlp.w2`, [4 * d, d]],
      [`h${l}.mlp.b2`, [d]],
    );
  }
  out.push(["lnf.g", [d]], ["lnf.b", [d]]);
  if (!c.tied) out.push(["head", [c.vocabSize, d]]);
  return out;
}

