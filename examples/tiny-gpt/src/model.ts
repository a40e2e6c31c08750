/**
 * A tiny decoder-only transformer (GPT) in TensorFlow.js ops: token and position embeddings,
 * pre-norm blocks of causal multi-head self-attention and a GELU MLP, a final layer norm, and
 * an LM head tied to the token embedding (or untied). The loss is xent's, through `xent/tfjs`.
 *
 * Shapes: B batch, T context, D width, H heads, V vocabulary.
 */
import * as tf from "@tensorflow/tfjs-core";
import { crossEntropy } from "xent/tfjs";
import { paramShapes, type ModelConfig } from "./config.js";

export { paramShapes, SIZES, type ModelConfig, type SizePreset } from "./config.js";

/** The model's parameters by name, in a fixed order (the checkpoint's order). */
export type Params = Map<string, tf.Variable>;

/** GPT-2 initialisation, seeded: N(0, 0.02) weights, residual projections scaled by 1/√(2L), zero biases, unit gains. */
export function initParams(c: ModelConfig, seed: number): Params {
  const params: Params = new Map();
  let k = 0;
  for (const [name, shape] of paramShapes(c)) {
    k++;
    const leaf = name.split(".").pop()!;
    let init: tf.Tensor;
    if (leaf === "g") init = tf.ones(shape);
    else if (leaf.startsWith("b")) init = tf.zeros(shape);
    else {
      const residual = leaf === "wo" || leaf === "w2";
      const std = residual ? 0.02 / Math.sqrt(2 * c.layers) : 0.02;
      init = tf.randomNormal(shape, 0, std, "float32", seed * 1000 + k);
    }
    params.set(name, tf.variable(init)); // unnamed: tfjs variable names are global to the process
    init.dispose();
  }
  return params;
}

export function paramCount(params: Params): number {
  let n = 0;
  for (const p of params.values()) n += p.size;
  return n;
}

function p(params: Params, name: string): tf.Variable {
  const v = params.get(name);
  if (v === undefined) throw new Error(`model: no parameter ${name}`);
  return v;
}

function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
}

/** GELU, tanh approximation (GPT-2's). */
function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.mul(tf.mul(x, x), x))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

/**
 * Embedding lookup rows = table[ids], with its gradient scattered on the JS side: tfjs's own
 * gather gradient needs UnsortedSegmentSum, which the wasm backend lacks. (N) ids -> (N, D).
 */
function embed(table: tf.Variable, ids: Int32Array): tf.Tensor2D {
  const [v, d] = table.shape as [number, number];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const t = args[0] as tf.Tensor;
    return {
      value: tf.gather(t, tf.tensor1d(ids, "int32")),
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array; // (N, D)
        const out = new Float32Array(v * d); // (V, D)
        for (let i = 0; i < ids.length; i++) {
          const row = ids[i]! * d;
          for (let j = 0; j < d; j++) out[row + j]! += g[i * d + j]!;
        }
        return tf.tensor2d(out, [v, d]);
      },
    };
  });
  return op(table) as tf.Tensor2D;
}

/**
 * a·b (batched over leading axes) whose backward transposes explicitly and then multiplies
 * plainly: tfjs-wasm's fast (XNNPACK) matmul path is for untransposed operands, and the
 * transposed products matMul's own gradient asks for run several times slower.
 */
function mm<T extends tf.Tensor>(x: T, w: tf.Tensor): T {
  const perm = (r: number): number[] => [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const a = args[0] as tf.Tensor;
    const b = args[1] as tf.Tensor;
    const save = args[2] as tf.GradSaveFunc;
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
        return [tf.matMul(dy, tf.transpose(sb, perm(sb.rank))), tf.matMul(tf.transpose(sa, perm(sa.rank)), dy)];
      },
    };
  });
  return op(x, w) as T;
}

const masks = new Map<number, tf.Tensor>();
/** (T, T) additive causal mask: 0 on and below the diagonal, -1e9 above. Kept for the process. */
function causalMask(t: number): tf.Tensor {
  let m = masks.get(t);
  if (m === undefined) {
    const data = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) data[i * t + j] = -1e9;
    m = tf.keep(tf.tensor2d(data, [t, t]));
    masks.set(t, m);
  }
  return m;
}

/** The final layer norm's output (B·T, D) for input ids (B, T), T <= context: what the LM head multiplies. */
export function hiddenStates(c: ModelConfig, params: Params, ids: Int32Array, batch: number, t: number): tf.Tensor2D {
  return tf.tidy(() => {
    const d = c.width;
    const h = c.heads;
    const hd = d / h;
    let x = tf.reshape(embed(p(params, "wte"), ids), [batch, t, d]); // (B, T, D)
    x = tf.add(x, tf.slice(p(params, "wpe"), [0, 0], [t, d]));
    const mask = causalMask(t);
    for (let l = 0; l < c.layers; l++) {
      const pre = `h${l}.`;
      // attention: (B·T, D) -> q, k, v each (B, H, T, hd)
      const a = tf.reshape(layerNorm(x, p(params, pre + "ln1.g"), p(params, pre + "ln1.b")), [batch * t, d]);
      const qkv = tf.add(mm(a as tf.Tensor2D, p(params, pre + "attn.wqkv") as tf.Tensor2D), p(params, pre + "attn.bqkv")); // (B·T, 3D)
      const [q, k, v] = tf.split(qkv, 3, 1).map((z) => tf.transpose(tf.reshape(z, [batch, t, h, hd]), [0, 2, 1, 3]));
      const att = tf.softmax(tf.add(tf.mul(mm(q!, tf.transpose(k!, [0, 1, 3, 2])), 1 / Math.sqrt(hd)), mask)); // (B, H, T, T)
      const y = tf.reshape(tf.transpose(mm(att, v!), [0, 2, 1, 3]), [batch * t, d]); // (B·T, D)
      const proj = tf.add(mm(y as tf.Tensor2D, p(params, pre + "attn.wo") as tf.Tensor2D), p(params, pre + "attn.bo"));
      x = tf.add(x, tf.reshape(proj, [batch, t, d]));
      // MLP: (B·T, D) -> (B·T, 4D) -> (B·T, D)
      const m = tf.reshape(layerNorm(x, p(params, pre + "ln2.g"), p(params, pre + "ln2.b")), [batch * t, d]);
      const hid = gelu(tf.add(mm(m as tf.Tensor2D, p(params, pre + "mlp.w1") as tf.Tensor2D), p(params, pre + "mlp.b1")));
      const out = tf.add(mm(hid as tf.Tensor2D, p(params, pre + "mlp.w2") as tf.Tensor2D), p(params, pre + "mlp.b2"));
      x = tf.add(x, tf.reshape(out, [batch, t, d]));
    }
    return tf.reshape(layerNorm(x, p(params, "lnf.g"), p(params, "lnf.b")), [batch * t, d]) as tf.Tensor2D;
  });
}

/** The LM head's weight (V, D): the token embedding when tied, else its own matrix. */
export function headWeight(c: ModelConfig, params: Params): tf.Variable {
  return c.tied ? p(params, "wte") : p(params, "head");
}

/** Logits (B·T, V) for input ids (B, T), T <= context. */
export function forward(c: ModelConfig, params: Params, ids: Int32Array, batch: number, t: number): tf.Tensor2D {
  return tf.tidy(() => {
    const f = hiddenStates(c, params, ids, batch, t);
    return mm(f, tf.transpose(headWeight(c, params)) as tf.Tensor2D); // (B·T, D)·(D, V) = (B·T, V)
  });
}

/** Mean next-token cross-entropy of a batch, through xent's tfjs op (differentiable). */
export function loss(c: ModelConfig, params: Params, x: Int32Array, y: Int32Array, batch: number, t: number): tf.Scalar {
  return tf.tidy(() => crossEntropy(forward(c, params, x, batch, t), y) as tf.Scalar);
}
