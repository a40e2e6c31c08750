/** Text generation from a trained model: temperature sampling, seeded. */
import * as tf from "@tensorflow/tfjs-core";
import { softmax } from "xent";
import { forward, type ModelConfig, type Params } from "./model.js";
import type { Tokenizer } from "./tokenizer.js";

/** Continue `prompt` by `length` tokens, each drawn from softmax(logits / temperature). */
export function generate(
  config: ModelConfig,
  params: Params,
  tok: Tokenizer,
  prompt: string,
  length: number,
  random: () => number,
  temperature = 0.8,
): string {
  const ids = Array.from(tok.encode(prompt));
  if (ids.length === 0) ids.push(0);
  const start = ids.length;
  for (let k = 0; k < length; k++) {
    const window = Int32Array.from(ids.slice(-config.context));
    const t = window.length;
    const last = tf.tidy(() => {
      const logits = forward(config, params, window, 1, t); // (T, V)
      return tf.div(tf.slice(logits, [t - 1, 0], [1, config.vocabSize]), temperature);
    });
    const probs = softmax(last.dataSync() as Float32Array, { classes: config.vocabSize });
    last.dispose();
    let u = random();
    let next = probs.length - 1;
    for (let j = 0; j < probs.length; j++) {
      u -= probs[j]!;
      if (u <= 0) {
        next = j;
        break;
      }
    }
    ids.push(next);
  }
  return prompt + tok.decode(ids.slice(start));
}
