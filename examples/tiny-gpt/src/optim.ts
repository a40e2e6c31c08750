/**
 * Adam with a state that can be saved and restored exactly, for `tiny-gpt train --resume`.
 * It computes what tfjs's AdamOptimizer computes, op for op (so runs give the same numbers as
 * `tf.train.adam`, tested bit for bit), but keeps the running products β1^t and β2^t as they are:
 * tfjs's setWeights recomputes them as powers, whose last bits differ from the products, and a
 * resumed run would drift from an uninterrupted one.
 */
import * as tf from "@tensorflow/tfjs-core";

/** Everything Adam carries from one step to the next. */
export interface AdamState {
  iterations: number;
  /** β1^t and β2^t as the float32 running products. */
  accBeta1: number;
  accBeta2: number;
  /** The first moments of every variable, then the second moments, flat, in the variables' order. */
  moments: Float32Array;
}

export class Adam {
  learningRate: number;
  iterations = 0;
  private readonly accBeta1: tf.Variable;
  private readonly accBeta2: tf.Variable;
  private m: tf.Variable[] = [];
  private v: tf.Variable[] = [];

  constructor(
    learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-8,
  ) {
    this.learningRate = learningRate;
    this.accBeta1 = tf.tidy(() => tf.variable(tf.scalar(beta1), false));
    this.accBeta2 = tf.tidy(() => tf.variable(tf.scalar(beta2), false));
  }

  /** One update of `vars` by their gradients `grads` (same order). */
  step(vars: readonly tf.Variable[], grads: readonly tf.Tensor[]): void {
    tf.tidy(() => {
      const oneMinusAccBeta1 = tf.sub(1, this.accBeta1);
      const oneMinusAccBeta2 = tf.sub(1, this.accBeta2);
      vars.forEach((value, i) => {
        const m = (this.m[i] ??= tf.variable(tf.zerosLike(value), false));
        const v = (this.v[i] ??= tf.variable(tf.zerosLike(value), false));
        const g = grads[i]!;
        const newM = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const newV = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const mHat = tf.div(newM, oneMinusAccBeta1);
        const vHat = tf.div(newV, oneMinusAccBeta2);
        m.assign(newM);
        v.assign(newV);
        value.assign(tf.add(tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), this.epsilon)), -this.learningRate), value));
      });
      this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
      this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
    });
    this.iterations++;
  }

  state(): AdamState {
    const parts = [...this.m, ...this.v].map((x) => x.dataSync() as Float32Array);
    const moments = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of parts) {
      moments.set(p, off);
      off += p.length;
    }
    return { iterations: this.iterations, accBeta1: this.accBeta1.dataSync()[0]!, accBeta2: this.accBeta2.dataSync()[0]!, moments };
  }

  /** Restore a saved state for `vars` (the same variables, in the same order, as when it was saved). */
  load(vars: readonly tf.Variable[], s: AdamState): void {
    const size = vars.reduce((a, x) => a + x.size, 0);
    if (s.moments.length !== (s.iterations === 0 ? 0 : 2 * size)) throw new RangeError(`Adam state holds ${s.moments.length} moments; expected ${2 * size}`);
    this.disposeMoments();
    this.iterations = s.iterations;
    tf.tidy(() => {
      this.accBeta1.assign(tf.scalar(s.accBeta1));
      this.accBeta2.assign(tf.scalar(s.accBeta2));
    });
    if (s.iterations === 0) return;
    let off = 0;
    const take = (x: tf.Variable): tf.Variable => {
      const t = tf.tensor(s.moments.subarray(off, off + x.size), x.shape);
      off += x.size;
      const out = tf.variable(t, false);
      t.dispose();
      return out;
    };
    this.m = vars.map(take);
    this.v = vars.map(take);
  }

  private disposeMoments(): void {
    tf.dispose([...this.m, ...this.v]);
    this.m = [];
    this.v = [];
  }

  dispose(): void {
    this.disposeMoments();
    tf.dispose([this.accBeta1, this.accBeta2]);
  }
}
